"""Every task folder of ``configs/`` has a ``metafile.yml`` listed by the root
``model-index.yml``, with one row per leaf config whose metadata are the
config's values, and no metric that was not measured."""
import glob
import os.path as osp
import re
from typing import List, Set

import pytest
import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FAMILIES = sorted(
    osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*'))
    if osp.isdir(p) and osp.basename(p) != '_base_')


def leaf_names(family: str) -> Set[str]:
    """Names of the leaf configs under ``configs/<family>`` (any depth)."""
    return {
        osp.basename(p)[:-3]
        for p in glob.glob(
            osp.join(REPO, 'configs', family, '**', '*.py'), recursive=True)
        if f'{osp.sep}_base_{osp.sep}' not in p
    }


def models(family: str) -> List[dict]:
    with open(osp.join(REPO, 'configs', family, 'metafile.yml')) as f:
        return yaml.safe_load(f)['Models']


def test_every_task_folder_is_in_the_model_index():
    assert {'pretrain', 'cls', 'seg', 'det', 'irstd'} <= set(FAMILIES)
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert imports == sorted(set(imports), key=imports.index)
    assert set(imports) == {
        f'configs/{family}/metafile.yml'
        for family in FAMILIES
    }


@pytest.mark.parametrize('family', ['seg', 'det', 'irstd'])
def test_downstream_metafile_rows_are_the_configs(family):
    """One row per leaf config; the schedule length and total batch are the
    config's; no metric (nothing was measured: the papers' numbers are in the
    folder's README, marked as the papers')."""
    from mmengine.config import Config
    rows = models(family)
    assert {m['Name'] for m in rows} == leaf_names(family)
    with open(osp.join(REPO, 'configs', family, 'metafile.yml')) as f:
        collections = {c['Name'] for c in yaml.safe_load(f)['Collections']}
    for row in rows:
        assert row['In Collection'] in collections, row['Name']
        assert row['Config'] == f"configs/{family}/{row['Name']}.py"
        cfg = Config.fromfile(osp.join(REPO, row['Config']))
        meta = row['Metadata']
        if 'Epochs' in meta:
            assert cfg.train_cfg.max_epochs == meta['Epochs'], row['Name']
        else:
            assert cfg.train_cfg.max_iters == meta['Iterations'], row['Name']
        gpus = int(re.search(r'_(\d+)xb\d+', row['Name']).group(1))
        assert gpus * cfg.train_dataloader.batch_size == \
            meta['Batch Size'], row['Name']
        assert all(not r['Metrics'] for r in row['Results']), row['Name']
