"""Packaging: what Dataflow workers install (pipeline/ and transforms/ only; launcher/, comparison/ and the local stack
stay out)."""

import setuptools

BEAM_VERSION = '2.77.0'

setuptools.setup(
    name='oic-bigquery-pipeline',
    version='0.1.0',
    description='Warehouse records to BigQuery through Oracle Integration (OIC) and directly, compared.',
    python_requires='>=3.10',
    packages=setuptools.find_packages(include=['pipeline', 'pipeline.*', 'transforms', 'transforms.*']),
    install_requires=[
        'apache-beam[gcp]==%s' % BEAM_VERSION,
        # Worker dependencies, within the ranges apache-beam 2.77 itself requires (pip never has to pick).
        'requests>=2.32.4,<3',
        'tenacity>=8.4,<10',  # The OIC caller's retry loop and stop rules (stop_before_delay needs 8.4).
        'google-cloud-secret-manager>=2.16,<3',  # --oic_password_secret, read on the workers.
    ],
    extras_require={
        # The local stack: a BigQuery emulator (with DuckDB's spatial extension installed offline) and the OIC
        # stand-in's HTTP framework. Never needed on Dataflow workers.
        'local': [
            'bqemulator==1.4.0',
            'duckdb==1.5.5',
            'duckdb-extension-spatial==1.5.5',
            'duckdb-extensions==1.5.5',
            # sqlglot's own compiled parser (mypyc): the emulator parses every query's text many times; with it a
            # comparison probe's poll costs the emulator ~0.6 of the pure-Python parse (benchmarks/README.md).
            'sqlglot[c]',
            'aiohttp>=3.9,<4',
            'psutil>=5.9',
            # The local stack's per-stack CA and the OIC stand-in's HTTPS certificate.
            'trustme>=1.1,<2',
            # The comparison report's charts (inline SVG in report.html).
            'matplotlib>=3.8,<4',
        ],
        'test': [
            'pytest>=8',
            'pytest-timeout>=2.3',
            'pytest-xdist>=3.5,<4',  # ./run_local.sh test runs the suite on parallel workers, each with its own stack.
            'hypothesis>=6.100',
            'trustme>=1.1,<2',  # Certificates from a throw-away CA for the TLS pre-flight tests.
            'mypy>=1.10',  # ./run_local.sh test type-checks the shipped and launching code first (mypy.ini).
        ],
    },
)
