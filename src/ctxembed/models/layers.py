"""Neural layers more than one family uses: sinusoidal positions, reversal within lengths,
the char-CNN with highway layers, and the projected LSTM with cell and projection clipping
(bilm-tf's cell). Each family's module holds the rest of its forward pass."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError


def sinusoid(T: int, dim: int) -> torch.Tensor:
    """Sinusoidal positions ``[T, dim]`` (Vaswani et al. 2017): sin on even, cos on odd columns."""
    pos = torch.arange(T, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(T, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)[:, : dim // 2]
    return pe


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end."""
    T = x.shape[1]
    idx = torch.arange(T).unsqueeze(0).expand(len(lengths), T)
    rev = (lengths.unsqueeze(1) - 1 - idx).clamp(min=0)
    rev = torch.where(idx < lengths.unsqueeze(1), rev, idx)
    return x.gather(1, rev.unsqueeze(-1).expand_as(x))


class Highway(nn.Module):
    """``y = g * x + (1 - g) * relu(A x)``, ``g = sigmoid(B x)`` (Srivastava et al. 2015)."""

    def __init__(self, dim: int, n: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, 2 * dim) for _ in range(n))
        for layer in self.layers:
            layer.bias.data[dim:].fill_(1.0)  # start by carrying the input through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h, g = layer(x).chunk(2, dim=-1)
            g = torch.sigmoid(g)
            x = g * x + (1 - g) * F.relu(h)
        return x


class CharEncoder(nn.Module):
    """Character ids ``[B, T, C]`` -> token vectors ``[B, T, proj_dim]``."""

    def __init__(
        self,
        n_chars: int,
        char_dim: int,
        filters: Sequence[Sequence[int]],  # (width, number of filters)
        n_highway: int,
        proj_dim: int,
        activation: str = "relu",
    ):
        super().__init__()
        self.embed = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, n, w) for w, n in filters)
        width = sum(n for _, n in filters)
        self.highway = Highway(width, n_highway)
        self.proj = nn.Linear(width, proj_dim)
        if activation not in ("relu", "tanh"):
            raise InputError(f"activation={activation!r}: use relu or tanh")
        self.activation = activation

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        B, T, C = chars.shape
        # a word's encoding does not depend on its context: encode each distinct word once
        uniq, inv = torch.unique(chars.view(B * T, C), dim=0, return_inverse=True)
        x = self.embed(uniq).transpose(1, 2)  # [n_distinct, char_dim, C]
        act = torch.tanh if self.activation == "tanh" else F.relu
        pooled = [act(conv(x).max(dim=2).values) for conv in self.convs]
        return self.proj(self.highway(torch.cat(pooled, dim=1)))[inv].view(B, T, -1)


class LstmProjection(nn.Module):
    """One direction of one layer: an LSTM cell with a projection, cell and projection clipping."""

    def __init__(
        self,
        input_dim: int,
        cell_dim: int,
        proj_dim: int,
        cell_clip: float | None,
        proj_clip: float | None,
    ):
        super().__init__()
        self.cell_dim, self.proj_dim = cell_dim, proj_dim
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.input_linear = nn.Linear(input_dim, 4 * cell_dim, bias=False)
        self.state_linear = nn.Linear(proj_dim, 4 * cell_dim, bias=True)  # gates: i, f, g, o
        self.proj = nn.Linear(cell_dim, proj_dim, bias=False)
        with torch.no_grad():  # TensorFlow's LSTMCell adds forget_bias=1.0: remember at the start
            self.state_linear.bias[cell_dim : 2 * cell_dim].fill_(1.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` right-padded ``[B, T, in]`` -> ``[B, T, proj]`` (zero at padding)."""
        B, T, _ = x.shape
        h = x.new_zeros(B, self.proj_dim)
        c = x.new_zeros(B, self.cell_dim)
        gates_in = self.input_linear(x)  # all time steps at once
        w_state = self.state_linear.weight.T
        alive = (lengths.unsqueeze(1) > torch.arange(T)).unsqueeze(-1)  # [B, T, 1]
        outs = []
        for t in range(T):
            gates = torch.addmm(gates_in[:, t] + self.state_linear.bias, h, w_state)
            i, f, g, o = gates.chunk(4, dim=1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            if self.cell_clip is not None:
                c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
            h_new = self.proj(torch.sigmoid(o) * torch.tanh(c_new))
            if self.proj_clip is not None:
                h_new = h_new.clamp(-self.proj_clip, self.proj_clip)
            if bool(alive[:, t].all()):
                c, h = c_new, h_new
            else:
                c = torch.where(alive[:, t], c_new, c)
                h = torch.where(alive[:, t], h_new, h)
            outs.append(h_new)
        return torch.stack(outs, dim=1) * alive
