"""The speed benchmark's interleaved pre-training steps
(``tools/analysis_tools/benchmark_speed.py --interleave``): the orchestration
of the persistent workers with fake kinds (``--step-builder``) instead of the
real models, the per-round ratios and the table."""
import importlib.util
import os
import os.path as osp
import statistics
import time

import pytest

from tests.host_tools import REPO

BENCH = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_speed.py')
#: The fake steps append their events here (set by the tests, inherited by
#: the worker processes).
LOG_ENV = 'INFMAE_TEST_BENCH_LOG'
KINDS = ('infmae', 'infmae_inmodel', 'mae')


def load_bench():
    spec = importlib.util.spec_from_file_location('benchmark_speed', BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_bench()


# ------------------------------------------------------------ fake kinds
class SleepStep:
    """A fake pre-training step that sleeps a known, kind-dependent time.

    It has ``benchmark_speed.TrainStep``'s interface. Every event goes to the
    log: ``KIND start PID`` when built, ``KIND step PHASE N`` per step
    (``fit``: inside ``fit``, the warm-up; ``served``: after it).
    """

    SECONDS = dict(
        infmae=0.03,
        infmae_inmodel=0.045,
        mae=0.06,
        dense=0.02,
        infmae_compiled=0.025,
        mae_compiled=0.05)

    def __init__(self, kind, size, batch, amp):
        self.kind, self.batch, self.tried = kind, batch, [batch]
        self.phase, self.served = 'built', 0
        self.log('start', os.getpid())

    def log(self, *fields):
        with open(os.environ[LOG_ENV], 'a') as f:
            f.write(' '.join(map(str, (self.kind, ) + fields)) + '\n')

    def fit(self, run):
        self.phase = 'fit'
        result = run()
        self.phase = 'served'
        return result

    def __call__(self):
        if self.phase == 'served':
            self.served += 1
        self.log('step', self.phase, self.served)
        self.misbehave()
        time.sleep(self.SECONDS[self.kind])

    def misbehave(self):
        pass

    def tensor_memory(self):
        return None

    def flops(self):
        return 1e9


class FailingStep(SleepStep):
    """At its second served step MAE's worker exits and the in-model one
    hangs."""

    def misbehave(self):
        if self.served != 2:
            return
        if self.kind == 'mae':
            os.write(2, b'fake crash in the step\n')
            os._exit(3)
        if self.kind == 'infmae_inmodel':
            time.sleep(3600)


def builder(name):
    return f'tests.test_benchmark_interleave:{name}'


def read_log(path):
    return [line.split() for line in path.read_text().splitlines()]


def assert_all_gone(events):
    pids = [int(e[2]) for e in events if e[1] == 'start']
    assert pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped: no such process


def rotation(repeats, kinds=KINDS):
    return [[kinds[(r + i) % len(kinds)] for i in range(len(kinds))]
            for r in range(repeats)]


def run_sleep_steps(tmp_path,
                    monkeypatch,
                    batch: int,
                    repeats: int,
                    interleave: bool,
                    compile: bool = False):
    """The pre-training cases at 224 with the sleeping fake kinds; returns the
    event log's path and the results."""
    log = tmp_path / 'log'
    monkeypatch.setenv(LOG_ENV, str(log))
    run = bench.Runner(1, 'cpu', budget_s=600, case_timeout_s=60)
    results = {}
    bench.pretrain_cases(
        run,
        results, [224],
        batch=batch,
        repeats=repeats,
        amp=None,
        interleave=interleave,
        builder=builder('SleepStep'),
        compile=compile)
    return log, results


# ----------------------------------------------------------------- tests
def test_interleaved_rounds_rotate_and_the_ratio_is_the_per_round_median(
        tmp_path, monkeypatch):
    log, results = run_sleep_steps(
        tmp_path, monkeypatch, batch=4, repeats=4, interleave=True)
    events = read_log(log)
    assert_all_gone(events)
    # Round r starts at kind r mod 3: the order the driver records and the
    # order the workers stepped in.
    assert results['interleave/224']['order'] == rotation(4)
    served = [e[0] for e in events if e[1:3] == ['step', 'served']]
    assert served == sum(rotation(4), [])
    # Each worker was built and warmed up before the next one started.
    starts = [i for i, e in enumerate(events) if e[1] == 'start']
    firsts = [events.index([k, 'step', 'fit', '0']) for k in KINDS]
    assert starts[:3] == sorted(starts[:3]) and firsts == sorted(firsts)
    assert starts[1] > firsts[0] and starts[2] > firsts[1]

    step = {k: results[f'train_step/{k}/224'] for k in KINDS}
    for kind, r in step.items():
        assert r['interleaved'] is True
        assert len(r['rounds']) == 4 and r['times'] == r['rounds']
        assert r['seconds'] == statistics.median(r['rounds'])
        assert r['batch'] == 4 and r['images_per_s'] == 4 / r['seconds']
        assert r['flops'] == 1e9 and r['peak_memory_mb'] > 0
        assert min(r['rounds']) >= SleepStep.SECONDS[kind]
    mae = step['mae']['rounds']
    for kind in ('infmae', 'infmae_inmodel'):
        ratios = [t / m for t, m in zip(step[kind]['rounds'], mae)]
        assert step[kind]['ratios_vs_mae'] == pytest.approx(ratios)
        assert step[kind]['ratio_vs_mae'] == pytest.approx(
            statistics.median(ratios))
        expected = SleepStep.SECONDS[kind] / SleepStep.SECONDS['mae']
        assert step[kind]['ratio_vs_mae'] == pytest.approx(expected, abs=0.15)
    assert 'ratio_vs_mae' not in step['mae']
    # The dense reference ran alone afterwards, in a fresh process.
    dense = results['train_step/dense/224']
    assert 'interleaved' not in dense and len(dense['times']) == 4
    assert [e[0] for e in events if e[1] == 'start'] == [*KINDS, 'dense']


@pytest.mark.timeout(120)
def test_a_crashed_and_a_hung_worker_are_errors_and_the_rest_finishes(
        tmp_path, monkeypatch):
    log = tmp_path / 'log'
    monkeypatch.setenv(LOG_ENV, str(log))
    run = bench.Runner(1, 'cpu', budget_s=600, case_timeout_s=8)
    start = time.monotonic()
    measured, info = run.interleave(
        KINDS,
        repeats=3,
        size=224,
        batch=2,
        amp=None,
        builder=builder('FailingStep'))
    assert time.monotonic() - start < 60
    events = read_log(log)
    assert_all_gone(events)  # the hung one was killed
    assert measured['mae']['error'].startswith('exit 3: ')
    assert 'fake crash in the step' in measured['mae']['error']
    assert measured['infmae_inmodel'] == dict(
        error='timed out after 8 s waiting for STEP')
    # The survivor ran every round and finished; its ratio is missing, with
    # the reason.
    infmae = measured['infmae']
    assert infmae['interleaved'] is True and len(infmae['rounds']) == 3
    assert 'ratio_vs_mae' not in infmae
    assert infmae['ratio_vs_mae_missing'].startswith('mae: exit 3')
    assert info['order'] == [
        list(KINDS), ['infmae_inmodel', 'mae', 'infmae'], ['infmae']
    ]


def test_without_interleaving_every_kind_runs_alone(tmp_path, monkeypatch):
    log, results = run_sleep_steps(
        tmp_path, monkeypatch, batch=2, repeats=3, interleave=False)
    assert not any(k.startswith('interleave/') for k in results)
    eager = [k for k in bench.PRETRAIN_KINDS if not k.endswith('_compiled')]
    assert sorted(k.split('/')[1] for k in results) == sorted(eager)
    for kind in eager:
        r = results[f'train_step/{kind}/224']
        assert 'interleaved' not in r and len(r['times']) == 3
    events = read_log(log)
    assert_all_gone(events)
    # No served steps: each process timed inside ``fit`` and ended.
    assert not [e for e in events if e[1:3] == ['step', 'served']]


def test_compile_adds_the_compiled_rows(tmp_path, monkeypatch):
    """``--compile``: InfMAE-B and MAE ViT-B again with ``model.loss`` under
    ``torch.compile``, in their own rows; without it the table has none."""
    _, results = run_sleep_steps(
        tmp_path,
        monkeypatch,
        batch=2,
        repeats=2,
        interleave=False,
        compile=True)
    for kind in ('infmae_compiled', 'mae_compiled'):
        assert len(results[f'train_step/{kind}/224']['times']) == 2
    results['machine'] = machine()
    table = bench.format_table(results, [224], [(512, 512)])
    assert 'InfMAE-B, pipeline masks, torch.compile | 224 | 2 |' in table
    del results['train_step/mae_compiled/224']
    del results['train_step/infmae_compiled/224']
    assert 'torch.compile' not in bench.format_table(results, [224],
                                                     [(512, 512)])


def test_a_failing_orchestration_is_recorded_and_dense_still_runs():

    class Run:

        def interleave(self, kinds, repeats, **kwargs):
            raise OSError('no more processes')

        def __call__(self, worker, **kwargs):
            return dict(worker=worker, **kwargs)

    results = {}
    bench.pretrain_cases(
        Run(), results, [224], batch=8, repeats=5, amp=None, interleave=True)
    for kind in KINDS:
        assert results[f'train_step/{kind}/224'] == dict(
            error='interleaving failed: OSError: no more processes')
    assert results['train_step/dense/224'] == dict(
        worker='train_step',
        kind='dense',
        size=224,
        batch=8,
        amp=None,
        repeats=5)


def step_result(seconds, rounds=None, batch=8):
    result = dict(
        seconds=seconds,
        times=rounds or [seconds],
        batch=batch,
        batches_tried=[batch],
        amp='none',
        images_per_s=batch / seconds,
        peak_memory_mb=1000.,
        flops=1e11)
    if rounds:
        result.update(interleaved=True, rounds=rounds)
    return result


def machine():
    return dict(
        processor='x86_64',
        cpu_threads=2,
        device='cpu',
        torch='2.1.2',
        amp='none',
        amp_skipped=None,
        batch=8,
        repeats=3,
        interleave=True,
        datasheet_peak_flops=None)


def table_rows(results):
    table = bench.format_table(results, [224], [(512, 512)])
    return table, {line.split(' | ')[0]: line for line in table.splitlines()}


def test_the_table_uses_the_per_round_ratio_and_says_so():
    # Per-round ratios 1/3, 0.6, 0.9: median 0.6; the ratio of the medians
    # (1.0 / 2.0) would be 0.5.
    measured = dict(
        infmae=step_result(1.0, [1.0, 1.2, 0.9]),
        infmae_inmodel=step_result(1.1, [1.1, 1.1, 1.1], batch=4),
        mae=step_result(2.0, [3.0, 2.0, 1.0]))
    bench.add_ratios(measured)
    assert measured['infmae']['ratios_vs_mae'] == pytest.approx(
        [1 / 3, 0.6, 0.9])
    assert measured['infmae']['ratio_vs_mae'] == pytest.approx(0.6)
    # Per image: batch 4 against MAE's 8.
    assert measured['infmae_inmodel']['ratio_vs_mae'] == pytest.approx(1.1)
    results = dict(
        machine=machine(),
        matmul_peak=dict(flops_per_s=1e11, n=2048, dtype='float32'),
        **{f'train_step/{k}/224': v
           for k, v in measured.items()})
    results['train_step/dense/224'] = step_result(4.0)
    table, rows = table_rows(results)
    assert '| 0.60x | 0.25x |' in rows['| InfMAE-B, pipeline masks']
    assert '| 1.10x |' in rows['| InfMAE-B, in-model masks']
    assert '| 1.00x | 0.50x |' in rows['| MAE ViT-B (mmpretrain)']
    assert 'pre-training steps interleaved' in table
    assert 'median of the per-round ratios' in table


def test_the_table_without_interleaving_has_no_note_and_a_failed_mae():
    results = dict(
        machine=machine(),
        matmul_peak=dict(flops_per_s=1e11, n=2048, dtype='float32'),
        **{
            'train_step/infmae/224': step_result(1.0),
            'train_step/mae/224': dict(error='exit -9: killed')
        })
    table, rows = table_rows(results)
    assert 'interleaved' not in table
    assert '| n/a | n/a |' in rows['| InfMAE-B, pipeline masks']
    assert 'exit -9' in rows['| MAE ViT-B (mmpretrain)']
    # A failed interleaved MAE: the ratio is missing, not a crash.
    measured = dict(
        infmae=step_result(1.0, [1.0, 1.1]), mae=dict(error='timed out'))
    bench.add_ratios(measured)
    assert measured['infmae']['ratio_vs_mae_missing'] == 'mae: timed out'
    results['train_step/infmae/224'] = measured['infmae']
    table, rows = table_rows(results)
    assert '| n/a | n/a |' in rows['| InfMAE-B, pipeline masks']
    assert 'pre-training steps interleaved' in table


@pytest.mark.parametrize('argv,cuda,expected', [
    ([], False, True),
    ([], True, False),
    (['--interleave', 'auto', '--device', 'cpu'], True, True),
    (['--interleave', 'no'], False, False),
    (['--interleave', 'yes'], True, True),
])
def test_interleave_is_resolved_from_the_device(argv, cuda, expected):
    args = bench.parse_args(argv)
    assert bench.resolve(args, cuda=cuda)['interleave'] is expected


def test_interleave_rejects_other_values(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(['--interleave', 'maybe'])
    assert exc.value.code == 2
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


def test_peak_tensor_memory_counts_live_and_transient_tensors():
    """Live storages (shared ones once) plus the highest running sum of the
    run's allocations: 4 MiB + 8 MiB alive together, then 2 MiB alone."""
    import torch
    base = torch.zeros(2**20)  # 4 MiB, counted once though listed twice
    view = base[:10]

    def run():
        a = torch.ones(2**20)
        b = torch.ones(2 * 2**20)
        del a, b
        c = torch.ones(2**19)
        del c

    peak = bench.peak_tensor_mb(run, [base, view])
    assert peak == pytest.approx(4 + 12, abs=0.01)


@pytest.mark.parametrize('argv,cuda,fixed', [
    ([], False, True),
    ([], True, False),
    (['--malloc', 'default'], False, False),
    (['--malloc', 'fixed'], True, True),
])
def test_malloc_settings_reach_the_workers(argv, cuda, fixed, monkeypatch):
    for key in list(os.environ):
        if key.startswith('MALLOC_'):
            monkeypatch.delenv(key)
    setup = bench.resolve(bench.parse_args(argv), cuda=cuda)
    assert setup['malloc_env'] == (bench.FIXED_MALLOC if fixed else {})
    run = bench.Runner(
        1,
        'cpu',
        budget_s=60,
        case_timeout_s=60,
        malloc_env=setup['malloc_env'])
    env = run._env()
    for key, value in bench.FIXED_MALLOC.items():
        assert (env.get(key) == value) is fixed


def test_malloc_values_in_the_environment_win(monkeypatch):
    monkeypatch.setenv('MALLOC_TRIM_THRESHOLD_', '123')
    setup = bench.resolve(bench.parse_args([]), cuda=False)
    assert setup['malloc_env']['MALLOC_TRIM_THRESHOLD_'] == '123'
    assert setup['malloc_env']['MALLOC_MMAP_THRESHOLD_'] == str(32 * 2**20)
