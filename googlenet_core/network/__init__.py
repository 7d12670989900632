"""GoogLeNet as one table of data, and everything derived from it without training.

::

    config.py    frozen specs, validation, the walk that derives every depth
    presets.py   paper / torchvision / mini, in a registry that refuses duplicates
    model.py     the nn.Module built from a config; forward / forward_heads
    analysis.py  shapes, parameters and MACs from the config alone
    paper.py     Table 1 as published, compared with arithmetic
    editing.py   the dashboard's editors and links, free of any UI
"""
