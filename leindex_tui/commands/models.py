"""`leindex models list|pull`: the embedding models usable offline, and the one download.

`list` shows the built-in embedder, model2vec and transformer models under
`LEINDEX_HOME/models/` and in the Hugging Face cache, and whether fastembed is installed,
marking the one configured (`index.embedder` / `LEINDEX_EMBEDDER`). `pull NAME` downloads a
model2vec model from the Hugging Face hub into `LEINDEX_HOME/models/`, saying so first; nothing
else downloads.
"""

from __future__ import annotations

import argparse
import sys

EXAMPLES = """\
examples:
  leindex models list                             # local models, and which one is configured
  leindex models pull minishlab/potion-code-16M   # the only command that downloads
"""
"""Shown at the end of `leindex models --help`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`list` (default) or `pull NAME`."""
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("list", help="models available locally, and which one is configured")
    pull = sub.add_parser(
        "pull", help="download a model2vec or sentence-transformers model (the only network use)"
    )
    pull.add_argument("name", help="a Hugging Face repo id, e.g. minishlab/potion-code-16M")


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 when the config does not load or a download fails."""
    from engine.config import ConfigError, leindex_home, load_config
    from engine.index.embedder_choice import (
        choose_embedder,
        configured_spec,
        list_local_models,
        pull_model,
    )
    from engine.index.model_embedders import ModelLoadError
    from engine.index.transformer_embedder import is_transformer_dir

    home = leindex_home()
    if getattr(args, "action", None) == "pull":
        print(f"Downloading {args.name} from the Hugging Face hub into {home / 'models'} ...")
        sys.stdout.flush()
        try:
            target = pull_model(args.name, home)
        except ModelLoadError as error:
            sys.stderr.write(f"leindex: {error}\n")
            return 1
        kind = "transformer" if is_transformer_dir(target) else "model2vec"
        name = args.name.partition(":")[2] if ":" in args.name else args.name
        print(f"Saved to {target}. Use it with index.embedder: {kind}:{name}")
        return 0
    try:
        config = load_config(home).config
    except ConfigError as error:
        sys.stderr.write(f"leindex: {error}\n")
        return 1
    spec = configured_spec(config)
    choice = choose_embedder(spec, home)
    for row in list_local_models(home):
        in_use = choice.embedder.name.startswith(
            row["kind"] + ("-" if row["kind"] == "hashing" else ":")
        )
        active = in_use and (row["kind"] == "hashing" or row["spec"] == spec)
        mark = "*" if active else " "
        print(f"{mark} {row['spec']:<40} {row['path']}")
    print(f"configured: {spec}; in use: {choice.embedder.name} (dim {choice.embedder.dim})")
    if choice.warning:
        print(f"warning: {choice.warning}")
    return 0
