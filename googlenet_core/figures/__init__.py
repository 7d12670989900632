"""Plotly figures for the dashboard: pure functions, results in, ``go.Figure`` out.

::

    style.py       the one base style: fonts, colours, margins, format_count
    network.py     the Inception block, shapes, costs, the whole network, Table 1
    training.py    loss, accuracy per head, gradient norms and ratios, throughput of runs
    prediction.py  top-k per head, Grad-CAM, branch feature maps
    confusion.py   a run's confusion matrix, the wrong images inside their cells
    lessons.py     the Concepts page: branches, the naive network, aux heads, gradient flow,
                   deployment
    projector.py   any figure with projector-sized type (presentation mode)
"""
