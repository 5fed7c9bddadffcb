"""Pre-training data curation (Inf30 recipe): filters, near-duplicates,
entropy, resume, statistics, and a pre-training dataset read from the
manifest."""
import csv
import importlib.util
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import infmae_mm  # noqa: F401  (registers IAMMaskGenerator and the model)
from infmae_mm import curation
from infmae_mm import testing as syn
from infmae_mm.curation import pipeline

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG_DIR = osp.join(REPO, 'configs', 'pretrain')
LEAF_CFG = osp.join(CFG_DIR,
                    'infmae_vit-base-p16_4xb64-amp-coslr-400e_ir-manifest.py')
RECIPE_CFG = osp.join(CFG_DIR,
                      'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')
NUM_ORIGINALS, NUM_ORIGINALS_16 = 30, 6


def _load_cli():
    spec = importlib.util.spec_from_file_location(
        'curate_pretrain_data',
        osp.join(REPO, 'tools', 'data', 'curate_pretrain_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _imread(path):
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def _write(path, img, params=()):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img, list(params)), path


def _resized(img, factor, interpolation):
    return cv2.resize(
        img, None, fx=factor, fy=factor, interpolation=interpolation)


def hand_entropy(img):
    """Equation 1 written out with numpy, independently of the module."""
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        x = img.astype(np.float64)
        lo, hi = np.percentile(x, [0.5, 99.5])
        img = np.clip(np.rint((x - lo) * 255.0 / (hi - lo)), 0, 255)
    _, counts = np.unique(img, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@pytest.fixture(scope='module')
def collection(tmp_path_factory):
    """Raw folders with planted duplicates, tiny and corrupt files.

    Returns a dict with the two raw folders and the expected fate of every
    planted input: image id -> (reason, id of the kept image or None).
    """
    root = tmp_path_factory.mktemp('curation')
    raw, raw16 = root / 'raw', root / 'raw16'
    origs = syn.write_pretrain_folder(
        str(raw), NUM_ORIGINALS, size=((80, 112), (96, 144)), seed=0)
    origs16 = syn.write_pretrain_folder(
        str(raw16), NUM_ORIGINALS_16, size=(96, 128), seed=1, bit_depth=16)
    ids = {p: 'raw/' + osp.relpath(p, raw) for p in origs}
    ids.update({p: 'raw16/' + osp.relpath(p, raw16) for p in origs16})
    gray = [_imread(p) for p in origs]
    planted = raw / 'zz_planted'
    expect = {}

    def dup(path, of):
        rel = osp.relpath(path, root).replace(os.sep, '/')
        expect[rel] = (curation.NEAR_DUPLICATE, ids[of])

    # Copies that sort after their original (same size: the first is kept).
    planted.mkdir()
    shutil.copyfile(origs[0], planted / 'exact_copy.png')
    dup(planted / 'exact_copy.png', origs[0])
    _write(planted / 'reencoded_q90.jpg', gray[1],
           [cv2.IMWRITE_JPEG_QUALITY, 90])
    dup(planted / 'reencoded_q90.jpg', origs[1])
    _write(planted / 'resized_0.9.png', _resized(gray[2], 0.9, cv2.INTER_AREA))
    dup(planted / 'resized_0.9.png', origs[2])
    _write(planted / 'brighter.png',
           np.clip(gray[3].astype(int) + 20, 0, 255).astype(np.uint8))
    dup(planted / 'brighter.png', origs[3])
    _write(planted / 'sixteen_bit.png',
           (gray[4].astype(np.uint16) * 40 + 6500).astype(np.uint16))
    dup(planted / 'sixteen_bit.png', origs[4])
    tinted = cv2.cvtColor(gray[5], cv2.COLOR_GRAY2BGR)
    tinted[..., 0] = np.clip(tinted[..., 0].astype(int) - 12, 0, 255)
    _write(planted / 'colour.png', tinted)
    dup(planted / 'colour.png', origs[5])
    # The larger copy wins even though it sorts after the original ...
    _write(planted / 'upscaled_1.1.png', _resized(gray[6], 1.1,
                                                  cv2.INTER_CUBIC))
    expect['raw/zz_planted/upscaled_1.1.png'] = ('', None)
    expect[ids[origs[6]]] = (curation.NEAR_DUPLICATE,
                             'raw/zz_planted/upscaled_1.1.png')
    # ... and a smaller copy that sorts first loses.
    _write(raw / 'aa_planted' / 'smaller_first.png',
           _resized(gray[7], 0.9, cv2.INTER_AREA))
    dup(raw / 'aa_planted' / 'smaller_first.png', origs[7])
    x16 = _imread(origs16[0]).astype(np.float64)
    _write(raw16 / 'zz_planted' / 'gain.png',
           ((x16 - 6000) * 1.1 + 6100).astype(np.uint16))
    dup(raw16 / 'zz_planted' / 'gain.png', origs16[0])

    # Sizes: dropped only when width AND height are under 20 px.
    rng = np.random.default_rng(123)
    odd = raw / 'odd_sizes'
    for name, (h, w), reason in (('tiny_15x12.png', (12, 15), 'too_small'),
                                 ('tiny_19x19.png', (19, 19), 'too_small'),
                                 ('narrow_15x40.PNG', (40, 15),
                                  ''), ('edge_20x19.png', (19, 20), '')):
        _write(odd / name, syn.make_ir_image(rng, h, w))
        expect[f'raw/odd_sizes/{name}'] = (reason, None)

    bad = raw / 'corrupt'
    bad.mkdir()
    (bad / 'zero.png').write_bytes(b'')
    png = open(origs[8], 'rb').read()
    (bad / 'truncated.png').write_bytes(png[:len(png) // 2])
    (bad / 'not_an_image.jpg').write_text('this is text, not a JPEG\n')
    ok, jpg = cv2.imencode('.jpg', gray[9])
    (bad / 'truncated.jpg').write_bytes(jpg.tobytes()[:len(jpg) // 2])
    (bad / 'readme.txt').write_text('not an image suffix: ignored\n')
    for name in ('zero.png', 'truncated.png', 'not_an_image.jpg',
                 'truncated.jpg'):
        expect[f'raw/corrupt/{name}'] = (curation.UNREADABLE, None)
    for path in origs + origs16:
        expect.setdefault(ids[path], ('', None))
    return dict(
        root=root,
        raw=str(raw),
        raw16=str(raw16),
        expect=expect,
        origs=origs,
        origs16=origs16)


@pytest.fixture(scope='module')
def curated(collection):
    out = collection['root'] / 'out'
    result = curation.curate([collection['raw'], collection['raw16']],
                             str(out),
                             verbose=False)
    return result


def _fates(result):
    by_path = {d.image.path: d.image.image_id for d in result.decisions}
    return {
        d.image.image_id:
        (d.reason, by_path[d.duplicate_of] if d.duplicate_of else None)
        for d in result.decisions
    }


def _manifest(out_dir):
    with open(osp.join(out_dir, 'manifest.txt')) as f:
        return f.read().splitlines()


# ------------------------------------------------------------------ measures
def test_hamming_index_is_exact():
    rng = np.random.default_rng(0)
    codes = [int(c) for c in rng.integers(0, 2**63, 600, dtype=np.int64)]
    # Plant neighbours at every distance up to 12 bits.
    for i in range(300):
        flips = rng.choice(64, size=i % 13, replace=False)
        codes.append(codes[i] ^ int(sum(1 << int(b) for b in flips)))
    queries = codes[:40] + [int(c) for c in rng.integers(0, 2**63, 40)]
    for radius in (0, 3, 6, 10):
        index = curation.HammingIndex(radius)
        for c in codes:
            index.add(c)
        for q in queries:
            dists = [curation.hamming_distance(q, c) for c in codes]
            best = min(range(len(codes)), key=lambda i: (dists[i], i))
            want = (best, dists[best]) if dists[best] <= radius else None
            assert index.nearest(q) == want
    assert curation.HammingIndex(-1).nearest(0) is None


def test_entropy_and_hash_measures():
    flat = np.full((30, 40), 77, np.uint8)
    assert curation.information_entropy(flat) == 0.0
    assert curation.perceptual_hash(flat) == 0
    halves = np.repeat(np.array([[0, 255]], np.uint8), 50, axis=0)
    assert curation.information_entropy(halves) == pytest.approx(1.0)
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert curation.information_entropy(ramp) == pytest.approx(8.0)

    img = syn.make_ir_image(np.random.default_rng(5), 90, 120)
    code = curation.perceptual_hash(img)
    assert 0 < code < 2**63 and bin(code).count('1') == 31
    # No clipping: an offset and a gain leave the hash exactly as it was.
    scaled = (img.astype(np.float64) * 0.5 + 60).round().astype(np.uint8)
    assert curation.hamming_distance(code,
                                     curation.perceptual_hash(scaled)) <= 2

    # 16-bit: 0.5/99.5 percentiles stretched to 0..255, then equation 1.
    img16 = syn.make_ir_image(np.random.default_rng(6), 64, 80, bit_depth=16)
    levels = curation.gray_levels(img16)
    assert levels.dtype == np.uint8 and levels.shape == img16.shape
    x = img16.astype(np.float64)
    lo, hi = np.percentile(x, [0.5, 99.5])
    np.testing.assert_array_equal(
        levels, np.clip(np.rint((x - lo) * 255 / (hi - lo)), 0, 255))
    assert curation.information_entropy(levels) == pytest.approx(
        hand_entropy(img16), abs=1e-12)


# ----------------------------------------------------------------- curation
def test_exactly_the_planted_images_are_dropped(curated, collection):
    fates = _fates(curated)
    assert fates == collection['expect']
    dropped = [d for d in curated.decisions if not d.kept]
    for d in dropped:
        if d.reason == curation.NEAR_DUPLICATE:
            assert 0 <= d.distance <= curation.DEFAULT_DEDUP_THRESHOLD
    exact = next(
        d for d in dropped if d.image.image_id.endswith('exact_copy.png'))
    assert exact.distance == 0
    # Why the corrupt files are unreadable.
    errors = {
        d.image.image_id.split('/')[-1]: d.analysis.error
        for d in dropped if d.reason == curation.UNREADABLE
    }
    assert errors['zero.png'] == 'empty file'
    assert errors['truncated.jpg'].startswith('truncated JPEG')
    assert errors['truncated.png'] == errors['not_an_image.jpg'] == \
        'cannot decode as an image'
    # The 16-bit and colour inputs were read as such.
    by_id = {d.image.image_id: d.analysis for d in curated.decisions}
    assert by_id['raw/zz_planted/sixteen_bit.png'].dtype == 'uint16'
    assert by_id['raw/zz_planted/colour.png'].channels == 3


def test_report_lists_every_input_with_its_reason(curated, collection):
    with open(curated.report, newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['image_id'] for r in rows] == sorted(collection['expect'])
    assert not any(r['path'].endswith('.txt') for r in rows)
    paths = {r['image_id']: r['path'] for r in rows}
    for row in rows:
        reason, of = collection['expect'][row['image_id']]
        assert row['reason'] == reason
        assert row['decision'] == ('dropped' if reason else 'kept')
        assert row['duplicate_of'] == (paths[of] if of else '')
        if reason == curation.NEAR_DUPLICATE:
            assert int(row['distance']) <= curation.DEFAULT_DEDUP_THRESHOLD
    kept = [r['manifest_entry'] for r in rows if r['decision'] == 'kept']
    assert kept == _manifest(curated.out_dir)


def test_manifest_is_sorted_and_relative_to_out_dir(curated):
    lines = _manifest(curated.out_dir)
    ids = [d.image.image_id for d in curated.kept]
    assert ids == sorted(ids) and len(lines) == len(ids)
    for line, d in zip(lines, curated.kept):
        assert osp.samefile(osp.join(curated.out_dir, line), d.image.path)


def test_entropy_matches_numpy(curated, collection):
    by_id = {d.image.image_id: d.analysis for d in curated.decisions}
    checks = {
        'raw/' + osp.relpath(collection['origs'][0], collection['raw']):
        collection['origs'][0],
        'raw16/' + osp.relpath(collection['origs16'][1], collection['raw16']):
        collection['origs16'][1],
        'raw/zz_planted/colour.png':
        osp.join(collection['raw'], 'zz_planted', 'colour.png'),
        'raw/zz_planted/sixteen_bit.png':
        osp.join(collection['raw'], 'zz_planted', 'sixteen_bit.png'),
    }
    for image_id, path in checks.items():
        assert by_id[image_id].entropy == pytest.approx(
            hand_entropy(_imread(path)), abs=1e-9), image_id
    kept = [hand_entropy(_imread(d.image.path)) for d in curated.kept]
    assert curated.statistics['entropy']['mean'] == pytest.approx(
        np.mean(kept), abs=1e-9)


def test_output_does_not_depend_on_listing_order(curated, collection,
                                                 monkeypatch):
    real_walk = os.walk

    def reversed_walk(top, *args, **kwargs):
        for dirpath, dirnames, filenames in real_walk(top, *args, **kwargs):
            dirnames.reverse()
            yield dirpath, dirnames, filenames[::-1]

    monkeypatch.setattr(os, 'walk', reversed_walk)
    # Same depth as the fixture's output, so relative entries compare.
    out = collection['root'] / 'out_reversed'
    result = curation.curate([collection['raw16'], collection['raw']],
                             str(out),
                             verbose=False)
    assert _manifest(str(out)) == _manifest(curated.out_dir)
    assert _fates(result) == _fates(curated)


def test_interrupted_run_resumes_to_the_same_manifest(curated, collection,
                                                      monkeypatch):
    raws = [collection['raw'], collection['raw16']]
    out = collection['root'] / 'out_resume'
    real_analyse = pipeline.analyse_image
    calls = []

    def analyse_then_interrupt(path, **kwargs):
        if len(calls) == 12:
            raise KeyboardInterrupt  # Ctrl-C after 12 images
        calls.append(path)
        return real_analyse(path, **kwargs)

    monkeypatch.setattr(pipeline, 'analyse_image', analyse_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        curation.curate(raws, str(out), verbose=False)
    monkeypatch.setattr(pipeline, 'analyse_image', real_analyse)
    journal = out / curation.JOURNAL_NAME
    assert len(journal.read_text().splitlines()) == 1 + 12
    assert not (out / 'manifest.txt').exists()

    # A kill in the middle of writing line 13: half a JSON line at the end.
    with open(journal, 'a') as f:
        f.write('{"path": "/half/written", "size": 1')
    result = curation.curate(raws, str(out), resume=True, verbose=False)
    assert (result.reused, result.analysed) == (12,
                                                len(curated.decisions) - 12)
    assert _manifest(str(out)) == _manifest(curated.out_dir)
    assert _fates(result) == _fates(curated)
    lines = journal.read_text().splitlines()
    assert all(json.loads(line) for line in lines)
    assert len(lines) == 1 + len(curated.decisions)

    # Resuming a finished run analyses nothing; thresholds may change.
    again = curation.curate(
        raws, str(out), resume=True, dedup_threshold=-1, verbose=False)
    assert again.analysed == 0
    assert len(again.kept) == len(curated.kept) + sum(
        d.reason == curation.NEAR_DUPLICATE for d in curated.decisions)


def test_statistics_table_and_plot(curated):
    out = curated.out_dir
    table = open(osp.join(out, 'stats.txt')).read()
    assert 'information entropy' in table and 'raw16/zz_planted' in table
    for reason in ('unreadable', 'too_small', 'near_duplicate'):
        assert reason in table
    stats = json.load(open(osp.join(out, 'stats.json')))
    assert stats['num_images'] == len(curated.kept)
    assert stats['num_inputs'] == len(curated.decisions)
    assert stats['dropped'] == {
        'unreadable': 4,
        'too_small': 2,
        'near_duplicate': 9,
        'unlistable_path': 0
    }
    assert sum(r['kept'] for r in stats['sources'].values()) == \
        len(curated.kept)
    assert stats['smallest'] == [20, 19]  # by pixel count, then width
    largest = max((d.analysis for d in curated.kept),
                  key=lambda a: a.width * a.height)
    assert stats['largest'] == [largest.width, largest.height]
    # The 16-bit originals are kept, the planted 16-bit copies are not.
    assert stats['bit_depth'] == {
        'uint16': NUM_ORIGINALS_16,
        'uint8': len(curated.kept) - NUM_ORIGINALS_16
    }
    plot = _imread(osp.join(out, 'stats.png'))
    assert plot.shape[0] > 400 and plot.shape[1] > 600
    assert not [n for n in os.listdir(out) if n.endswith('.tmp')]


def test_cli_links_and_stats_only(collection, curated, tmp_path, capsys):
    cli = _load_cli()
    out = tmp_path / 'linked'
    assert cli.main(
        [collection['raw16'], '--out',
         str(out), '--link', '--quiet']) == 0
    assert 'manifest:' in capsys.readouterr().out
    lines = _manifest(str(out))
    assert len(lines) == NUM_ORIGINALS_16 and all(
        line.startswith('images/raw16/') for line in lines)
    src = osp.join(collection['raw16'], lines[0][len('images/raw16/'):])
    assert osp.samefile(out / lines[0], src)

    stats_dir = tmp_path / 'stats'
    assert cli.main([
        osp.join(curated.out_dir, 'manifest.txt'), '--stats-only', '--out',
        str(stats_dir), '--quiet'
    ]) == 0
    assert 'information entropy' in capsys.readouterr().out
    stats = json.load(open(stats_dir / 'stats.json'))
    assert stats['num_images'] == len(curated.kept)
    assert stats['entropy']['mean'] == pytest.approx(
        curated.statistics['entropy']['mean'])
    assert set(stats['sources']) == {d.image.source for d in curated.kept}
    assert cli.main([str(tmp_path / 'missing'), '--out',
                     str(out), '--quiet']) == 2


@pytest.mark.parametrize('content', [None, 'notes.txt'])
def test_a_folder_without_images_is_an_error_naming_it(tmp_path, capsys,
                                                       content):
    raw = tmp_path / 'raw'
    raw.mkdir()
    if content:
        (raw / content).write_text('not an image')
    out = tmp_path / 'out'
    cli = _load_cli()
    for extra in ([], ['--stats-only']):
        assert cli.main([str(raw), '--out', str(out), '--quiet', *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: no image files (') and str(raw) in err
        assert 'RAW_DIR' in err and '.png' in err
        assert not out.exists()  # nothing written


def test_one_folder_without_images_among_others_is_a_warning(
        collection, tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = curation.curate(
        [collection['raw16'], str(empty)],
        str(tmp_path / 'out'),
        workers=2,
        verbose=True)
    assert result.warnings == [f'no image files in {empty}']
    err = capsys.readouterr().err
    assert f'[curate] warning: no image files in {empty}' in err
    assert '[analyse]' in err and f'{len(result.decisions)}/' in err
    assert len(result.kept) == NUM_ORIGINALS_16


# ------------------------------------------------------------ pre-training
def test_pretraining_starts_from_the_manifest(curated):
    cfg = Config.fromfile(LEAF_CFG)
    recipe = Config.fromfile(RECIPE_CFG)
    # Only the dataset's root and image list differ from the paper recipe.
    dataset_cfg = cfg.train_dataloader.dataset.copy()
    assert dataset_cfg.pop('ann_file') == 'manifest.txt'
    assert dataset_cfg.pop('data_root') == 'data/curated/'
    recipe_dataset = recipe.train_dataloader.dataset.copy()
    recipe_dataset.pop('data_root')
    assert dataset_cfg == recipe_dataset
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == recipe[key], key
    assert cfg.train_dataloader.dataset.pipeline == \
        recipe.train_dataloader.dataset.pipeline

    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS, MODELS
    cfg.train_dataloader.dataset.data_root = curated.out_dir
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == len(curated.kept)
    assert dataset.get_data_info(0)['img_path'] == osp.join(
        curated.out_dir,
        _manifest(curated.out_dir)[0])
    items = [dataset[0], dataset[1]]
    assert tuple(items[0]['inputs'].shape) == (3, 224, 224)

    cfg.model.backbone.arch = 'nano'
    cfg.model.neck.update(
        embed_dim=64, decoder_embed_dim=32, decoder_num_heads=2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    losses = model.train_step(default_collate(items), optim)
    assert all(torch.isfinite(v) for v in losses.values())
