"""Width checks between backbone, necks and heads, with errors to act on.

A module built for other channel widths than its input has fails deep inside
torch (``expected input[2, 192, 32, 32] to have 1024 channels``) without
saying which config key is wrong. :func:`check_widths` compares the widths a
module was built for with those it receives and raises a ``ValueError`` that
names the module, the config key to set, what it expected, what it got, and
which ``InfMAEViT`` arch gives those widths.
"""
from typing import Optional, Sequence, Union

import torch

Widths = Union[int, Sequence[int]]


def _as_tuple(widths: Widths) -> tuple:
    return (widths, ) if isinstance(widths, int) else tuple(
        int(w) for w in widths)


def arch_giving(widths: Widths) -> Optional[str]:
    """The ``InfMAEViT`` arch whose outputs have these widths, if any.

    Matches F1-F3 ``(C1, C2, C3)``, F1-F4 after ``InfMAEPyramidNeck``
    ``(C1, C2, C3, C3)``, F1-F2 ``(C1, C2)`` (stage fusion) and F3 alone
    ``(C3, )``.

    Args:
        widths (int | Sequence[int]): Channel widths.

    Returns:
        str | None: The arch's long name (``'base'``), or None.
    """
    from .backbones.infmae_vit import InfMAEViT
    widths = _as_tuple(widths)
    for name, settings in InfMAEViT.arch_zoo.items():
        if len(name) == 1:  # short aliases: report the long name
            continue
        c1, c2, c3 = settings['embed_dims']
        if widths in ((c1, c2, c3), (c1, c2, c3, c3), (c1, c2), (c3, )):
            return name
    return None


#: Where the widths of each arch are tabled.
WIDTH_TABLE = 'docs/en/user_guides/swap_backbone.md'


def check_widths(module: str,
                 key: str,
                 expected: Widths,
                 got: Widths,
                 what: str,
                 arch_key: Optional[str] = None,
                 note: str = '') -> None:
    """Raise a ``ValueError`` naming the config key when widths differ.

    Args:
        module (str): The checking module, e.g. ``'InfMAEPyramidNeck'``.
        key (str): The config key that sets ``expected``, e.g.
            ``'model.neck.in_channels'``.
        expected (int | Sequence[int]): Widths the module was built for.
        got (int | Sequence[int]): Widths of its input.
        what (str): What the widths are of, e.g. ``'F1-F3'``.
        arch_key (str, optional): The config key of the ``arch`` the module
            took its widths from (e.g. ``'model.neck.arch'``), when it was
            built from one: the fix then sets that arch (or removes it for
            widths of no arch), since ``arch`` and ``key`` cannot both be
            set.
        note (str): A sentence appended to the message.

    Raises:
        ValueError: If ``expected`` and ``got`` differ.
    """
    if torch.jit.is_tracing():  # shapes are fixed by the traced example
        return
    expected_t, got_t = _as_tuple(expected), _as_tuple(got)
    if expected_t == got_t:
        return
    value = got_t[0] if isinstance(expected, int) else got_t
    arch = arch_giving(got_t)
    source = (f", the widths InfMAEViT arch '{arch}' gives" if arch else '')
    built = arch_giving(expected_t)
    built_for = f" (InfMAEViT arch '{built}')" if built else ''
    if arch_key is not None and arch:
        setting, fix = arch_key, f"Set {arch_key}='{arch}'"
    elif arch_key is not None:
        setting = arch_key
        fix = f'Remove {arch_key} and set {key}={_show(value)}'
    else:
        setting, fix = key, f'Set {key}={_show(value)}'
    raise ValueError(
        f'{module} was built for {what} of width {_show(expected)}'
        f'{built_for} ({setting}) but receives {_show(value)}{source}. '
        f'{fix} to match the backbone (widths per arch: {WIDTH_TABLE}).' +
        (f' {note}' if note else ''))


def _show(widths: Widths) -> str:
    return str(widths) if isinstance(widths, int) else str(tuple(widths))
