"""GoogLeNet as one table of data, and everything derived from it without training.

::

    config.py    frozen specs, validation, the walk that derives every depth
    presets.py   paper / torchvision / mini, in a registry that refuses duplicates
    model.py     the nn.Module built from a config; forward / forward_heads
    analysis.py  shapes, parameters and MACs from the config alone
    costs.py     what a design costs to train, evaluate, predict and measure: MACs,
                 seconds at a measured rate, peak memory
    paper.py     Table 1 as published, compared with arithmetic
    lessons.py   the Concepts page's arguments: branches, a naive network, GAP vs FC
    editing.py   the dashboard's editors and design links, free of any UI
    codegen.py   the network as one plain PyTorch file (torch only, strict-loading)
"""
