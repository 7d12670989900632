# The dashboard in a container, for hosts where Community Cloud's limits are too small
# (a school server for a class of 30):
#
#   docker build -t googlenet-lab .                          # CPU build of torch
#   docker build -t googlenet-lab --build-arg TORCH=cuda .   # CUDA build (run with --gpus all)
#   docker run -d -p 8501:8501 -v googlenet-runs:/app/runs -v googlenet-cache:/home/lab/.cache googlenet-lab
#
# Installs what `make run` installs: torch and torchvision at requirements.txt's pins first,
# then the rest of requirements.txt without its CPU index line.
FROM python:3.11-slim-bookworm

# cpu: torch and torchvision from PyTorch's CPU index (`import torch` costs about 213 MB of
# RAM instead of 645 MB, and the packages take about 1.5 GB of disk instead of 6 GB);
# cuda: the same pins from PyPI, which on Linux is the CUDA build.
ARG TORCH=cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# The requirements before the source, so that editing the app does not reinstall torch.
COPY requirements.txt ./
RUN grep -E '^(torch|torchvision)==' requirements.txt > /tmp/torch.txt \
    && if [ "$TORCH" = cpu ]; then \
         pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/torch.txt; \
       elif [ "$TORCH" = cuda ]; then \
         pip install -r /tmp/torch.txt; \
       else \
         echo "TORCH must be cpu or cuda, not '$TORCH'" >&2; exit 1; \
       fi \
    && rm /tmp/torch.txt
# The rest; its torch pins are met by the build installed above. The check fails the
# build when TORCH=cpu ended up with a CUDA build.
RUN grep -v -e '^--extra-index-url' requirements.txt > /tmp/rest.txt \
    && pip install -r /tmp/rest.txt \
    && rm /tmp/rest.txt \
    && python -c "import sys, torch; print('torch', torch.__version__); sys.exit('TORCH=cpu, but pip installed a CUDA build of torch' if '$TORCH' == 'cpu' and torch.version.cuda else None)"

# The server runs as an ordinary user (uid 1000: `chown 1000 DIR` hands it a bind-mounted
# folder). The run store is the one place it writes in /app, a volume owned by that user;
# downloads (data sets, ImageNet weights) go to ~/.cache, made here so that a named volume
# mounted there (`-v googlenet-cache:/home/lab/.cache`) starts out owned by that user too.
RUN groupadd --gid 1000 lab \
    && useradd --create-home --no-log-init --uid 1000 --gid lab --shell /usr/sbin/nologin lab \
    && mkdir -p /app/runs /home/lab/.cache \
    && chown lab:lab /app/runs /home/lab/.cache

# Only what the dashboard runs, owned by root: the server cannot change its own code.
COPY .streamlit/config.toml .streamlit/config.toml
COPY googlenet_core googlenet_core
COPY pages pages
COPY app.py LICENSE ./

# The code in an image never changes, so Streamlit watches no files (config.toml's polling
# is for `make run`, where a saved source file reloads the app).
ENV HOME=/home/lab \
    GOOGLENET_RUNS_DIR=/app/runs \
    GOOGLENET_DATA_DIR=/home/lab/.cache/googlenet-data \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none

USER 1000:1000
VOLUME ["/app/runs"]
EXPOSE 8501

# python, not curl (the slim image has none): urlopen raises, and python exits 1, when the
# server does not answer or answers with an error.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]
