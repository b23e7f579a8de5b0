"""Hugging Face plumbing that no task owns: the verified Arrow caches of validated splits and
of ``Dataset.map`` outputs, and the tokenizer's content digest their keys use.

Shared by the built-in MRPC (``mrpc``) and the user's own tasks (``tasks``), so a cache
written for either is checked against the same manifest before reuse.
"""
