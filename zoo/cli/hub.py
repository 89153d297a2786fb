"""``zoo push`` and ``zoo pull``: registry models to and from the Hugging Face Hub."""

from __future__ import annotations

import click

from zoo.cli.catalog import json_option
from zoo.cli.output import echo_json
from zoo.cli.session import context


def _registry():
    return context().registry


@click.command("push")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--repo", metavar="NAMESPACE/REPO",
              help="Hub repository (default: $ZOO_HUB_NAMESPACE/NAME, else YOUR-HUB-USER/NAME).")
@click.option("--private", is_flag=True, help="Create the repository private (an existing public one is refused).")
@click.option("--revision", metavar="BRANCH", help="Commit to this branch, created from main if new (default: main).")
@json_option
def push_command(reference, repo, private, revision, as_json):
    """Upload a registry model to the Hugging Face Hub as one commit.

    The commit holds the four artifact files (README.md, config.json,
    card.json, model.safetensors) and its message names the version digest.
    Pushing a version the branch already holds makes no commit. The token is
    huggingface_hub's: HF_TOKEN, else the login stored by `hf auth login`;
    zoo never prints or stores it.

    \b
    Example:
      zoo push mobilenet_v2-int8 --repo alice/mobilenet_v2-fashion-mnist-int8
      zoo pull alice/mobilenet_v2-fashion-mnist-int8     (on another machine)
    """
    from zoo.hub.client import push

    pushed = push(_registry(), reference, repo=repo, private=private, revision=revision, progress=context().progress)
    if as_json:
        echo_json(pushed.as_dict())
        return
    ref = f"{pushed.name}@{pushed.version[:12]}"
    if pushed.changed:
        click.echo(f"pushed {ref} to {pushed.repo_id} ({pushed.revision}): {pushed.url}")
    else:
        click.echo(f"{pushed.repo_id} ({pushed.revision}) already holds {ref}: nothing to push ({pushed.url})")


@click.command("pull")
@click.argument("reference", metavar="REF")
@click.option("--latency-runs", type=click.IntRange(min=1), default=50, show_default=True,
              help="Timed runs when measuring a plugin's published weights.")
@click.option("--add-version", is_flag=True,
              help="Record a Hub model whose name this registry already holds as that name's new latest version.")
@json_option
def pull_command(reference, latency_runs, add_version, as_json):
    """Download a model into the registry, verify it, and print its card.

    \b
    REF is one of:
      resnet18-int8              a name a plugin publishes (see `zoo models`): its
                                 weights come through the plugin (torchvision's download)
      NAME                       $ZOO_HUB_NAMESPACE/NAME on the Hub (default namespace zoo-models)
      NAMESPACE/REPO             that Hub repository
      ...@REVISION               a Hub branch, tag or commit sha

    Files land in the Hub cache first, so a second pull, or one with
    HF_HUB_OFFLINE=1, needs no network. Every file's sha256 is checked
    against card.json and the architecture's plugin must be installed before
    anything is recorded.

    \b
    Example:
      zoo pull resnet18-int8 && zoo show resnet18-int8
      zoo pull alice/mobilenet_v2-fashion-mnist-int8@main && zoo eval mobilenet_v2-int8
    """
    from zoo.cli.registry import echo_card
    from zoo.jobs.pull import pull

    pulled = pull(reference, context(), latency_runs=latency_runs, add_version=add_version)
    if as_json:
        echo_json(pulled.card.to_dict())
        return
    click.echo(f"pulled {pulled.entry.ref} from {pulled.source}", err=True)
    echo_card(pulled.card)


COMMANDS = (push_command, pull_command)
