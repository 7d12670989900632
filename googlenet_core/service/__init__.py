"""What only a long-lived server shared by many browsers needs.

The training engine (:mod:`googlenet_core.training`) is what one training process
needs, from the command line or a worker; it never asks what the host has left or
who owns a run, and it imports nothing from here. This package decides those things
before a process starts::

    settings.py   every GOOGLENET_* environment variable, read into one frozen object
    host.py       what the container really has: CPUs (affinity, cgroup quota), memory
    budgets.py    what a job or a gradient measurement may take; a run's fit, before it starts
    probes.py     what the server measures once and shares: process baseline, speed, gradient flow
    worker.py     a job's child process: trains, reports events on stdout, stops on SIGTERM
    jobs.py       the job registry: a bounded number run at once, several queued whole or not
    training_jobs.py  a training run as a job: caps and memory checked, its process watched
    access.py     who sees, shares and deletes a run; the sentence that says so
    retention.py  how long runs are kept; temporary files of killed saves swept
    links.py      short links: a view's query string under a 12-letter code, bounded
    server.py     the one object a dashboard process shares between its browsers
"""
