"""Plain ``nn.Module`` components, one kind per module. They know nothing of specs or registries.

| kind                      | module          |
|---------------------------|-----------------|
| attention                 | ``attention``   |
| recurrent mixers (LSTM/GRU, in the attention kind) | ``recurrent`` |
| masks                     | ``masks``       |
| activation                | ``activation``  |
| norm                      | ``norm``        |
| feedforward               | ``feedforward`` |
| mixture of experts        | ``moe``         |
| positional                | ``positional``  |
| embedding                 | ``embedding``   |
| block                     | ``block``       |
| head                      | ``head``        |
| model                     | ``model``       |

Where torch ships the module (``nn.ReLU``, ``nn.LayerNorm``, ``nn.RMSNorm``, ...), the built-in plugin
builds it directly; the modules here hold what torch does not ship. State-dict names: docs/layout.md.
"""
