"""Images in, tensors out: everything between a file (or a data set) and the network's input.

::

    images.py      the one door every image file comes through (sanitise_image)
    transforms.py  Preprocessing and the arithmetic both training and prediction use
    batches.py     images held in memory, cut into (augmented) batches on the device
    digits.py      the bundled UCI handwritten digits
    writers.py     the digits' writers told apart by style, to hold new writers out
    digit_photos.py  a photo of a digit on paper as the digits were made (8x8 block counts)
    downloads.py   Fashion-MNIST, MNIST, CIFAR-10 through torchvision, into a cache
    folders.py     a folder of class subfolders, or a zip of one, under limits
    collected.py   classes a visitor builds from camera photos and files, kept on disk
    datasets.py    load_dataset: any of the above as a TrainingData ready to train on
    samples.py     sample images to try a model with

This module holds only the error they share.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A data set that cannot be used; the message says why and what to do instead."""
