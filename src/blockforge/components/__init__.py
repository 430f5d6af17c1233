"""Plain ``nn.Module`` components, one kind per module. They know nothing of specs or registries.

| kind        | module          |
|-------------|-----------------|
| attention   | ``attention``   |
| masks       | ``masks``       |
| feedforward | ``feedforward`` |
| positional  | ``positional``  |
| block       | ``block``       |
| head        | ``head``        |
| model       | ``model``       |

Activations, norms and the token embedding are torch's own modules (``nn.ReLU``, ``nn.LayerNorm``,
``nn.RMSNorm``, ``nn.Embedding``, ...); the built-in plugin builds them directly.
"""
