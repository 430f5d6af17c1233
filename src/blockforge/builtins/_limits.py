"""Upper bounds on sizes, so absurd specs are refused at validation, not by the OOM killer."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_WIDTH = 1 << 17  # 131072: d_model, hidden sizes
MAX_VOCAB = 1 << 22  # 4,194,304 tokens
MAX_LEN = 1 << 20  # 1,048,576 positions
MAX_LAYERS = 1024
MAX_HEADS = 4096

Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]
Heads = Annotated[int, Field(gt=0, le=MAX_HEADS)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
Eps = Annotated[float, Field(gt=0.0, lt=1.0)]
