"""Shrink an InfMAE config to the ``nano`` arch (as ``mmdet.testing``'s config
helpers): the config's structure at a CPU test's budget.

:func:`tiny_arch_options` reads a config's ``model`` and returns the
overrides that swap InfMAEViT-base/large widths for nano ones everywhere they
appear: the backbone's ``arch``, the encoder widths (F1, F2, F3 = 256, 384,
768 for base) in necks and heads, the pre-training decoder, the segmentation
heads' inner widths and the detection FPN / RPN / RoI heads. One table
instead of one per test.

Example:
    >>> cfg = Config.fromfile('configs/seg/upernet_...py')
    >>> cfg.merge_from_dict(tiny_arch_options(cfg))     # in a test
    >>> cli = as_cfg_options(tiny_arch_options(cfg))    # for mim --cfg-options
"""
import functools
from typing import Any, Dict, List, Mapping, Tuple, Union

#: The 256-wide FPN / RPN / RoI features of the detection configs -> 32 (the
#: small arch's F1 width).
FEATURE_WIDTH = 256
#: Keys whose values are widths of the encoder (F1, F2, F3 of the config's
#: arch, mapped to the small arch's) or of features derived from them.
WIDTH_KEYS = ('in_channels', 'c1_in_channels', 'out_channels', 'feat_channels',
              'conv_out_channels', 'embed_dim')
#: Fixed small values for the inner widths of heads and decoders.
FIXED = {
    ('decode_head', 'channels'): 16,
    ('auxiliary_head', 'channels'): 8,
    (None, 'fc_out_channels'): 64,
    (None, 'decoder_embed_dim'): 32,
    (None, 'decoder_num_heads'): 2,
}
#: Window size of the nano backbone's windowed attention (fits its grid).
NANO_WINDOW = 4
BACKBONES = ('InfMAEViT', )


def _shrink_width(value: Any, widths: Dict[int, int]) -> Any:
    if isinstance(value, int):
        return widths.get(value, value)
    if isinstance(value, (list, tuple)):
        return [widths.get(v, v) if isinstance(v, int) else v for v in value]
    return value


def _walk(node: Any, path: List[str], head: str, widths: Dict[int, int],
          options: Dict[str, Any]) -> None:
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _walk(item, path + [str(i)], head, widths, options)
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        nested = isinstance(value, (Mapping, list, tuple))
        if nested and key not in WIDTH_KEYS + ('up_channels', ):
            _walk(value, path + [key], head or key, widths, options)
            continue
        dotted = '.'.join(path + [key])
        if (head, key) in FIXED or (None, key) in FIXED:
            new = FIXED.get((head, key), FIXED.get((None, key)))
        elif key in WIDTH_KEYS:
            new = _shrink_width(value, widths)
        elif key == 'up_channels' and isinstance(value, (list, tuple)):
            new = [8] * len(value)
        else:
            continue
        if new != value and not (isinstance(value, tuple)
                                 and list(value) == new):
            options[dotted] = new


def tiny_arch_options(cfg: Union[str, Mapping],
                      arch: str = 'nano') -> Dict[str, Any]:
    """Overrides that shrink ``cfg.model`` to the nano arch.

    Args:
        cfg (str | Mapping): A config file, or a config (``mmengine.Config``
            or dict), whose ``model.backbone`` is an InfMAEViT.
        arch (str): The small arch. Defaults to 'nano' (widths 32, 48, 64).

    Returns:
        dict: Dotted keys (``'model.neck.in_channels'``) to values, for
        ``Config.merge_from_dict`` or :func:`as_cfg_options`. Only keys whose
        value changes are listed.

    Raises:
        ValueError: If the config has no InfMAEViT backbone.
    """
    if isinstance(cfg, str):
        return dict(_options_of_file(cfg, arch))
    model = cfg['model']
    backbone = model.get('backbone') or {}
    if backbone.get('type') not in BACKBONES:
        raise ValueError(f'tiny_arch_options shrinks InfMAEViT configs; '
                         f'model.backbone.type is {backbone.get("type")!r}.')
    from infmae_mm.models.backbones import InfMAEViT
    from infmae_mm.models.backbones.infmae_arch import parse_arch
    source = parse_arch(backbone.get('arch', 'base'), InfMAEViT.arch_zoo)
    target = parse_arch(arch, InfMAEViT.arch_zoo)
    widths = dict(zip(source['embed_dims'], target['embed_dims']))
    widths.setdefault(FEATURE_WIDTH, target['embed_dims'][0])
    options: Dict[str, Any] = {'model.backbone.arch': arch}
    if backbone.get('init_cfg') is not None:
        options['model.backbone.init_cfg'] = None
    if backbone.get('window_size'):
        options['model.backbone.window_size'] = NANO_WINDOW
    for key, value in model.items():
        if key in ('backbone', 'data_preprocessor'):
            continue
        if isinstance(value, (Mapping, list, tuple)):
            _walk(value, ['model', key], key, widths, options)
    return options


def as_cfg_options(options: Mapping[str, Any]) -> List[str]:
    """``--cfg-options`` strings (``key=value``, no spaces) of ``options``."""
    return [
        f'{k}={v!r}'.replace(' ', '').replace("'", '')
        if not isinstance(v, str) else f'{k}={v}' for k, v in options.items()
    ]


@functools.lru_cache(maxsize=None)
def _options_of_file(path: str, arch: str) -> Tuple[Tuple[str, Any], ...]:
    from mmengine.config import Config
    return tuple(tiny_arch_options(Config.fromfile(path), arch).items())


def tiny_arch_cli(config: str, arch: str = 'nano') -> List[str]:
    """``--cfg-options`` strings that shrink the config file ``config``.

    Read when called (tests call it inside the test, so that a config that
    does not load fails that test, not the collection of the module).
    """
    return as_cfg_options(tiny_arch_options(config, arch))
