# ctxembed serve from the pinned wheels (the same pins as `make setup`).
#   docker build -t ctxembed .
#   docker run -p 8080:8080 -e CTXEMBED_API_KEY=... ctxembed
# Other models: mount a folder and pass it, e.g. `... ctxembed --model /models/mine`.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
COPY data ./data
RUN pip wheel --no-deps -w /wheels .

FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /wheels
# torch is named in the same pip command so that pip takes the pinned CPU build
RUN pip install -c /tmp/constraints.txt torch==2.13.0 \
        "$(ls /wheels/ctxembed-*.whl)[serve,assets]" \
    && rm -rf /wheels
RUN useradd --create-home ctxembed
USER ctxembed
WORKDIR /home/ctxembed
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"
ENTRYPOINT ["ctxembed", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--model", "minilm-l6", "--model", "glove-6b-50d"]
