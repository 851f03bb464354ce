# Flex Template launcher image: parses the template's parameters and submits the job to Dataflow.
# Build and run it with the gcloud commands in docs/dataflow.md ("Flex Template").
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base

ARG WORKDIR=/template
WORKDIR ${WORKDIR}

# The pinned dependencies first (their own layer): requirements/worker.lock is setup.py's install_requires resolved
# with every package's hashes, at the same pins as the local and test environments (requirements/dev.lock);
# ./run_local.sh lock refreshes both. Then the project itself without dependencies (setup.py keeps version ranges
# for whoever installs it as a library), built by the lock's setuptools. MANIFEST.in keeps the local tooling out of
# what is staged for the workers.
COPY requirements/worker.lock ./requirements/worker.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/worker.lock
COPY setup.py MANIFEST.in ./
COPY pipeline ./pipeline
COPY transforms ./transforms
# The launcher (and the comparison it imports) run here, on the launcher image only; workers never need them.
COPY launcher ./launcher
COPY comparison ./comparison
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

# The launcher runs this file with the template's parameters as --name=value, and stages setup.py for the workers.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/launcher/flex.py"
ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE="${WORKDIR}/setup.py"
ENV PYTHONPATH="${WORKDIR}"
# Dependencies are already installed in this image: do not resolve them again at launch.
ENV PIP_NO_DEPS=True

