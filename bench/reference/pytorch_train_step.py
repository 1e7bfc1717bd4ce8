# The PyTorch reference of `pnpm bench train`: one training step of the same small Nemotron config (2 layers, hidden
# 256, 4 heads, MLP 1024, vocab 8000, float32, batch 8 x 128, causal-LM loss, backward, AdamW), written out in plain
# torch (transformers' NemotronForCausalLM layer for layer: LayerNorm1P, squared-ReLU MLP, partial rotary on half of
# each head, no biases, untied lm_head) so that it runs where only Debian's python3-torch is installed.
# Usage (Debian: apt install python3-torch): /usr/bin/python3 bench/reference/pytorch_train_step.py [threads]   -> prints tokens/s (median of 7 steps)
import sys, time, statistics
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
V, H, I, L, NH, B, S = 8000, 256, 1024, 2, 4, 8, 128
HD = H // NH
ROT = HD // 2  # partial_rotary_factor 0.5


class LayerNorm1P(nn.LayerNorm):
    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight + 1, self.bias, self.eps)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = LayerNorm1P(H, eps=1e-5), LayerNorm1P(H, eps=1e-5)
        self.q, self.k, self.v, self.o = (nn.Linear(H, H, bias=False) for _ in range(4))
        self.up, self.down = nn.Linear(H, I, bias=False), nn.Linear(I, H, bias=False)

    def forward(self, x, cos, sin):
        h = self.ln1(x)
        q, k, v = (p(h).view(B, S, NH, HD).transpose(1, 2) for p in (self.q, self.k, self.v))
        qr, qp = q[..., :ROT], q[..., ROT:]
        kr, kp = k[..., :ROT], k[..., ROT:]
        q = torch.cat((qr * cos + rotate_half(qr) * sin, qp), dim=-1)
        k = torch.cat((kr * cos + rotate_half(kr) * sin, kp), dim=-1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, 'scaled_dot_product_attention') else None
        if a is None:
            s = (q @ k.transpose(-1, -2)) / HD ** 0.5
            s = s.masked_fill(torch.triu(torch.ones(S, S, dtype=torch.bool), 1), float('-inf'))
            a = s.softmax(-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, S, H))
        return x + self.down(F.relu(self.up(self.ln2(x))) ** 2)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.norm = LayerNorm1P(H, eps=1e-5)
        self.lm_head = nn.Linear(H, V, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, ROT, 2).float() / ROT))
        f = torch.outer(torch.arange(S).float(), inv)
        e = torch.cat((f, f), dim=-1)
        self.cos, self.sin = e.cos(), e.sin()

    def forward(self, ids):
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin)
        logits = self.lm_head(self.norm(x))
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


torch.manual_seed(0)
model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(0, V, (B, S))
times = []
for i in range(9):
    t0 = time.perf_counter()
    opt.zero_grad()
    model(ids).backward()
    opt.step()
    times.append(time.perf_counter() - t0)
ms = statistics.median(times[2:]) * 1000
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: step {ms:.1f} ms, {B * S * 1000 / ms:.0f} tokens/s")
