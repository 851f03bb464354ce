"""The pipeline's own flags as Beam options: WarehouseOptions, built from their declarations in pipeline/flags.py."""

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.flags import DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_PATHS, PATHS, add_flags

__all__ = ['DEFAULT_DRAIN_TIMEOUT_S', 'DEFAULT_PATHS', 'PATHS', 'WarehouseOptions']


class WarehouseOptions(PipelineOptions):
    """Flags of `python -m pipeline.run`; every standard Beam option is accepted beside them."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_flags(parser)
