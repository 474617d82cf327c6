"""The keys every model schema shares for transfer learning (`model.init_from`, `model.freeze`):
a torch-free mixin, so the schemas below the engine can hold it (dlx.engine.transfer applies them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from dlx.constraints import Checked
from dlx.errors import require


@dataclass
class TransferKeys(Checked):
    """Keys every model schema shares (a mixin: `class MLPConfig(TransferKeys)`)."""

    init_from: Optional[str] = None  # a run (id, prefix, `last`, folder) or a .pt / .pth file
    freeze: Any = None  # null | backbone | [prefixes of parameter names]

    def validate(self) -> None:
        ok = self.freeze is None or self.freeze == "backbone" or (
            isinstance(self.freeze, list) and all(isinstance(p, str) and p for p in self.freeze))
        require(ok, "freeze", f"must be null, backbone or a list of parameter-name prefixes, got {self.freeze!r}")
