# syntax=docker/dockerfile:1
# One image for every hpsearch service: Ray head, Ray workers, the study runner and the dashboard.
#
#   CPU (default):   docker build -t hpsearch .
#   GPU workers:     docker build -t hpsearch:cuda \
#                      --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#                      --build-arg TORCH_VARIANT=cu128 .
#
# Both bases are Ubuntu 24.04 on purpose: Ray refuses to mix Python or Ray versions between the
# nodes and drivers of one cluster, so a CPU head and GPU workers must share Python (3.12 here).
# TORCH_VARIANT picks the PyTorch wheel index (`cpu`, `cu126`, `cu128`, ...); the torch version
# itself is read from pyproject.toml, so the image can never drift from the pinned torch==X.
ARG BASE_IMAGE=ubuntu:24.04
FROM ${BASE_IMAGE}

ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_BASE=https://download.pytorch.org/whl

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    RAY_USAGE_STATS_ENABLED=0

# Ubuntu's Python is "externally managed" (PEP 668), hence the virtual environment.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && useradd --create-home --uid 10001 hpsearch

WORKDIR /app

# Dependencies first, in a layer that survives code edits: torch from the PyTorch index of the
# chosen variant, everything else from PyPI (nothing else there depends on torch), then the package
# itself with --no-deps, so nothing re-resolves torch into a second, default build.
COPY pyproject.toml README.md ./
RUN python - <<'EOF'
import re
import tomllib

with open("pyproject.toml", "rb") as file:
    deps = tomllib.load(file)["project"]["dependencies"]
torch = [d for d in deps if re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0] == "torch"]
with open("/tmp/torch.txt", "w") as file:
    file.write("\n".join(torch) + "\n")
with open("/tmp/requirements.txt", "w") as file:
    file.write("\n".join(d for d in deps if d not in torch) + "\n")
EOF
RUN pip install --index-url "${TORCH_INDEX_BASE}/${TORCH_VARIANT}" -r /tmp/torch.txt \
 && pip install -r /tmp/requirements.txt
# Fail the build when the wheel does not match the variant (a CPU torch in a GPU image is silent
# otherwise: trials would just run on the CPU).
RUN python - "${TORCH_VARIANT}" <<'EOF'
import sys

import torch

variant, cuda = sys.argv[1], torch.version.cuda
print("torch", torch.__version__, "CUDA", cuda)
if (variant == "cpu") != (cuda is None):
    sys.exit(f"torch {torch.__version__} does not match TORCH_VARIANT={variant}")
EOF

COPY hpsearch ./hpsearch
COPY dashboards ./dashboards
COPY studies ./studies
RUN pip install --no-deps . && hpsearch --version

USER hpsearch
# The Ray services override the entry point with `ray start ...` (see docker-compose.yml).
ENTRYPOINT ["hpsearch"]
CMD ["--help"]
