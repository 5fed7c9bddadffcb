"""The CPU side of the prepared GPU check (``tools/gpu_check.sh``): argument
handling, skipping without CUDA, the JSON report, the mmcv op fallback and the
benchmark's CPU handling of AMP requests."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.host_tools import REPO

SCRIPT = osp.join(REPO, 'tools', 'gpu_check.sh')
ENTRY = osp.join(REPO, 'tools', 'gpu_check.py')
BENCH = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_speed.py')


def sh(*args, env=None, timeout=300):
    return subprocess.run(['bash', SCRIPT, *args],
                          cwd=REPO,
                          env=dict(
                              os.environ, PYTHON=sys.executable, **(env
                                                                    or {})),
                          capture_output=True,
                          text=True,
                          timeout=timeout)


def entry(*args, env=None):
    return subprocess.run([sys.executable, ENTRY, *args],
                          cwd=REPO,
                          env=dict(os.environ, **(env or {})),
                          capture_output=True,
                          text=True,
                          timeout=300)


@pytest.mark.slow
def test_without_cuda_the_check_records_the_machine_and_skips(tmp_path):
    logs, out, docs = tmp_path / 'logs', tmp_path / 'out', tmp_path / 'docs'
    proc = sh(
        '--simulate-no-cuda',
        '--logs',
        str(logs),
        '--json-dir',
        str(docs),
        env=dict(OUT=str(out)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'no CUDA device' in proc.stdout
    # Nothing measured: no docs/benchmarks file, no test or benchmark run.
    assert not docs.exists()
    assert not (logs / 'cuda_tests.xml').exists()
    report = json.loads((out / 'gpu_check.json').read_text())
    assert report['device'] is None
    assert report['status'] == 'skipped: no CUDA device'
    assert report['env']['simulated_no_cuda'] is True
    assert report['env']['versions']['torch'] == torch.__version__
    assert json.loads((out / 'env.json').read_text())['cuda'] is False


@pytest.mark.slow
@pytest.mark.parametrize('args,message', [
    (['--bogus'], "unknown argument '--bogus'"),
    (['--tests-timeout', '1m'], 'whole seconds'),
    (['--logs'], '--logs needs a value'),
    (['--bench-timeout', ''], '--bench-timeout needs a value'),
])
def test_bad_arguments_fail_with_a_message(args, message):
    proc = sh(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def write_logs(logs, device='NVIDIA H100 80GB HBM3'):
    logs.mkdir()
    (logs / 'env.json').write_text(json.dumps(dict(device=device, cuda=True)))
    (logs / 'cuda_tests.xml').write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite>'
        '<testcase classname="tests.test_cuda" name="test_a" time="1.5"/>'
        '<testcase classname="tests.test_cuda" name="test_b" time="2.0">'
        '<failure message="AssertionError: grads differ">trace</failure>'
        '</testcase>'
        '<testcase classname="tests.test_cuda" name="test_c" time="0.0">'
        '<skipped message="this GPU has no bf16"/></testcase>'
        '</testsuite></testsuites>')
    (logs / 'benchmark.json').write_text(
        json.dumps(dict(table='| row |', machine=dict(device=device))))
    (logs / 'cuda_tests.log').write_text('log')


def test_report_names_the_file_after_the_gpu_and_counts_outcomes(tmp_path):
    logs, out, docs = tmp_path / 'logs', tmp_path / 'out', tmp_path / 'docs'
    write_logs(logs)
    proc = entry('report', '--logs', str(logs), '--json-dir', str(docs),
                 '--step', 'prepare=0', '--step', 'tests=1', '--step',
                 'bench=124', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    path = docs / 'NVIDIA-H100-80GB-HBM3.json'
    report = json.loads(path.read_text())
    tests = report['tests']
    assert (tests['passed'], tests['failed'], tests['skipped']) == (1, 1, 1)
    failed = [c for c in tests['cases'] if c['outcome'] == 'failed']
    assert failed[0]['name'] == 'tests.test_cuda::test_b'
    assert 'grads differ' in failed[0]['message']
    assert report['steps']['bench'] == dict(rc=124, timed_out=True, ok=False)
    assert report['steps']['prepare']['ok'] is True
    assert report['status'].startswith('problems: step tests exit 1; step '
                                       'bench exit 124; 1 tests failed')
    assert report['benchmark']['table'] == '| row |'
    # $OUT gets the report and the logs that exist.
    assert sorted(os.listdir(out)) == sorted([
        'NVIDIA-H100-80GB-HBM3.json', 'env.json', 'cuda_tests.xml',
        'benchmark.json', 'cuda_tests.log'
    ])
    assert 'test_b' in proc.stdout and '| row |' in proc.stdout
    assert not [f for f in os.listdir(docs) if f.startswith('.tmp')]


def test_report_says_which_step_left_nothing(tmp_path):
    logs, docs = tmp_path / 'logs', tmp_path / 'docs'
    logs.mkdir()
    (logs / 'env.json').write_text(json.dumps(dict(device='NVIDIA H200')))
    proc = entry(
        'report',
        '--logs',
        str(logs),
        '--json-dir',
        str(docs),
        '--step',
        'tests=137',
        env=dict(OUT=''))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((docs / 'NVIDIA-H200.json').read_text())
    assert 'did not finish' in report['tests']['missing']
    assert 'did not finish' in report['benchmark']['missing']
    assert report['steps']['tests']['timed_out'] is True


@pytest.mark.parametrize('step', ['tests', 'tests=', 'tests=x', '=1'])
def test_report_refuses_malformed_steps(tmp_path, step):
    proc = entry('report', '--logs', str(tmp_path), '--step', step)
    assert proc.returncode == 2
    assert 'NAME=RC' in proc.stderr


def test_prepare_exits_3_without_cuda(tmp_path):
    proc = entry('prepare', '--logs', str(tmp_path), '--simulate-no-cuda')
    assert proc.returncode == 3
    env = json.loads((tmp_path / 'env.json').read_text())
    assert env['device'] is None and env['mmcv_ops'] == 'not checked'


# ----------------------------------------------------- mmcv op fallback
def load_fallback():
    spec = importlib.util.spec_from_file_location(
        'gpu_check_mmcv_ext', osp.join(REPO, 'tools', 'gpu_check_mmcv_ext.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compiled_mmcv_ext():
    spec = importlib.util.find_spec('mmcv._ext')
    if spec is None or (spec.origin or '').endswith('.py'):
        pytest.skip('mmcv without compiled ops: nothing to compare with')
    return importlib.import_module('mmcv._ext')


def random_boxes(gen, n, scale=100.):
    xy = torch.rand(n, 2, generator=gen) * scale
    return torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 30 + 1], 1)


def test_fallback_nms_equals_mmcv():
    real, fallback = compiled_mmcv_ext(), load_fallback()
    gen = torch.Generator().manual_seed(0)
    boxes, scores = random_boxes(gen, 300), torch.rand(300, generator=gen)
    for threshold in (0.3, 0.7):
        kept = fallback.nms(boxes, scores, iou_threshold=threshold, offset=0)
        assert 0 < len(kept) < 300
        assert torch.equal(
            kept, real.nms(boxes, scores, iou_threshold=threshold, offset=0))
    with pytest.raises(NotImplementedError, match='offset=0 only'):
        fallback.nms(boxes, scores, iou_threshold=0.5, offset=1)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_fallback_roi_align_equals_mmcv(aligned, sampling_ratio):
    real, fallback = compiled_mmcv_ext(), load_fallback()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 32, 40, generator=gen)
    rois = torch.cat([
        torch.randint(0, 2, (30, 1), generator=gen).float(),
        random_boxes(gen, 30, 60.)
    ], 1)
    grad = torch.randn(30, 8, 7, 7, generator=gen)
    kw = dict(
        aligned_height=7,
        aligned_width=7,
        spatial_scale=0.5,
        sampling_ratio=sampling_ratio,
        pool_mode=1,
        aligned=aligned)
    outs, grads = [], []
    for ext in (real, fallback):
        out, grad_in = x.new_zeros(30, 8, 7, 7), torch.zeros_like(x)
        ext.roi_align_forward(x, rois, out, x.new_zeros(0), x.new_zeros(0),
                              **kw)
        ext.roi_align_backward(grad, rois, x.new_zeros(0), x.new_zeros(0),
                               grad_in, **kw)
        outs.append(out)
        grads.append(grad_in)
    assert outs[0].abs().sum() > 0 and grads[0].abs().sum() > 0
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-6)


def test_fallback_other_ops_raise_naming_the_op():
    fallback = load_fallback()
    with pytest.raises(NotImplementedError, match="'deform_conv_forward'"):
        fallback.deform_conv_forward(None)
    with pytest.raises(NotImplementedError, match='max pooling'):
        fallback.roi_align_forward(*[None] * 5, 7, 7, 1., 0, 0, True)
    assert not hasattr(fallback, '__wrapped__')  # dunders stay absent


# ----------------------------------------------- benchmark on the CPU
@pytest.mark.slow
def test_benchmark_cpu_refuses_amp_with_a_reason_instead_of_crashing(tmp_path):
    """Bf16 autocast aborts torch 2.1.2 on the CPU: the benchmark must say so
    and measure fp32 (here only the IAM case, to stay short)."""
    out = tmp_path / 'bench.json'
    proc = subprocess.run([
        sys.executable, BENCH, '--device', 'cpu', '--amp', 'bf16', '--cases',
        'iam', '--repeats', '1', '--threads', '1', '--out',
        str(out)
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result['machine']['amp'] == 'none'
    assert 'bf16 autocast aborts' in result['machine']['amp_skipped']
    assert result['matmul_peak']['dtype'] == 'float32'
    iam = result['iam_share']
    assert iam['pipeline_seconds_per_batch'] > 0
    assert iam['in_model_seconds_per_batch'] > 0
    assert 'bf16 autocast aborts' in result['table']


def test_benchmark_rejects_unknown_cases():
    proc = subprocess.run([sys.executable, BENCH, '--cases', 'pretrain,warp'],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert "unknown --cases ['warp']" in proc.stderr


def load_tool(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_gpu_table_uses_the_datasheet_peak_and_shows_failures():
    bench = load_tool(BENCH, 'benchmark_speed')
    assert bench.datasheet_peak('NVIDIA H100 80GB HBM3') == 989e12
    assert bench.datasheet_peak('NVIDIA H100 PCIe') == 756e12
    assert bench.datasheet_peak('NVIDIA H200') == 989e12
    assert bench.datasheet_peak('Some Future GPU') is None
    results = dict(
        machine=dict(
            processor='x86_64',
            cpu_threads=8,
            device='NVIDIA H100 80GB HBM3',
            torch='2.11',
            amp='fp16',
            amp_skipped=None,
            batch=64,
            repeats=10,
            datasheet_peak_flops=989e12),
        matmul_peak=dict(flops_per_s=700e12, n=8192, dtype='float16'))
    for kind, (seconds, batch) in dict(
            infmae=(0.25, 64), infmae_inmodel=(0.3, 64),
            mae=(0.5, 64)).items():
        results[f'train_step/{kind}/224'] = dict(
            seconds=seconds,
            batch=batch,
            images_per_s=batch / seconds,
            peak_memory_mb=1000.,
            flops=98.9e12 * seconds)
    results['train_step/dense/224'] = dict(error='exit 1: CUDA out of memory')
    results['inference/upernet_infmae'] = dict(
        seconds=0.05,
        params=1.2e8,
        peak_memory_mb=900.,
        macs=5e11,
        attention_macs=2e10)
    results['inference/upernet_r50'] = dict(
        error='skipped: time budget (--budget-s) spent')
    table = bench.format_table(results, [224], [(512, 512)])
    rows = {line.split(' | ')[0]: line for line in table.splitlines()}
    # 98.9 TFLOP per second of step: 10% of 989, 14% of the measured 700.
    assert '| 10% (14%) | 0.50x | n/a |' in rows['| InfMAE-B, pipeline masks']
    assert '| 0.60x |' in rows['| InfMAE-B, in-model masks']
    assert 'CUDA out of memory' in rows['| InfMAE-B dense reference']
    assert '| 500 (20.0) |' in rows['| UperNet + InfMAE-B']
    assert 'time budget' in rows['| UperNet + R-50 (mmseg)']
    assert 'peak 989 TFLOP/s' in table and 'float16 8192^3' in table


def test_multimodal_flag_is_turned_off_only_when_it_breaks_the_import(
        tmp_path):
    """A stand-in mmpretrain whose models import fails while its multimodal
    flag is on (as mmpretrain 1.2 next to transformers 5.x does)."""
    package = tmp_path / 'mmpretrain'
    (package / 'utils').mkdir(parents=True)
    (package / 'models').mkdir()
    (package / '__init__.py').write_text('')
    (package / 'utils' / '__init__.py').write_text('')
    dependency = package / 'utils' / 'dependency.py'
    dependency.write_text('WITH_MULTIMODAL = all(\n    [True])\n')
    (package / 'models' / '__init__.py').write_text(
        'from mmpretrain.utils.dependency import WITH_MULTIMODAL\n'
        'if WITH_MULTIMODAL:\n'
        '    raise TypeError("NoneType takes no arguments")\n')
    call = ('import sys; sys.path.insert(0, "tools"); import gpu_check; '
            'print(gpu_check.disable_mmpretrain_multimodal())')
    env = dict(os.environ, PYTHONPATH=f'{tmp_path}{os.pathsep}{REPO}')

    def run():
        return subprocess.run([sys.executable, '-c', call],
                              cwd=REPO,
                              env=env,
                              capture_output=True,
                              text=True,
                              timeout=120).stdout

    first = run()
    assert 'multimodal models turned off' in first
    assert 'NoneType takes no arguments' in first
    assert 'imports now' in first
    assert 'WITH_MULTIMODAL = False and all(' in dependency.read_text()
    # Once it imports, nothing is touched again.
    assert run().strip() == 'mmpretrain.models imports'
