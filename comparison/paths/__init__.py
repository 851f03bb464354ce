"""The paths the comparison knows, one module each (oic, direct, storage_write), registered here; the registry and
the declaration's shape are in registry.py."""

from comparison.paths import direct, oic, storage_write
from comparison.paths.registry import (ComparisonPath, CostInputs, PathRun, curve_paths, known, of, priced, register,
                                       stated, timing_answers, unregister)

for _path in (oic.PATH, direct.PATH, storage_write.PATH):
    register(_path)

__all__ = ['ComparisonPath', 'CostInputs', 'PathRun', 'curve_paths', 'known', 'of', 'priced', 'register', 'stated',
           'timing_answers', 'unregister']
