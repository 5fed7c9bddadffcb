# The two commands of the README: `make demo` (pre-train on the embedded
# sample data and draw reconstructions) and `make test`. Both create the
# environment (.venv, reference stack) first when it is missing.
# `make lint` checks flake8 / isort / yapf / codespell / docformatter (the
# settings of setup.cfg, as mmpretrain); `make format` applies the fixable
# ones. `make test-fast` runs the tests not marked slow. `make docs` builds the
# documentation site (docs/en, Sphinx + MyST) into work_dirs/docs/html with
# warnings as errors; `make docs-images` redraws the pictures of docs/images
# with the package's tools (after `make demo`).
PY := .venv/bin/python
WORK ?= work_dirs/demo
# SIRST-v2 (git clone of YimianDai/open-sirst-v2) for `make transfer`
SIRST ?= data/sirst-v2
DEMO_CONFIG := configs/pretrain/infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py

.PHONY: env demo test test-fast lint format bench transfer sample-data clean docs docs-images

env:
	bash tools/setup_env.sh

sample-data: env
	$(PY) tools/data/generate_sample_data.py pretrain data/ir_sample --num 96 --size 256 256 --seed 0

demo: sample-data
	$(PY) tools/data/generate_sample_data.py pretrain data/ir_sample_heldout --num 24 --size 256 256 --seed 1
	PATH="$(CURDIR)/.venv/bin:$$PATH" mim train mmpretrain $(DEMO_CONFIG) --work-dir $(WORK)
	$(PY) tools/visualization/show_reconstruction.py $(DEMO_CONFIG) $(WORK)/epoch_100.pth \
		--images data/ir_sample_heldout --num 6 --out $(WORK)/reconstruction.png
	$(PY) tools/analysis_tools/eval_reconstruction.py $(DEMO_CONFIG) $(WORK)/epoch_100.pth \
		--images data/ir_sample_heldout --out $(WORK)/heldout_reconstruction.json
	# What the pre-training bought: a frozen-feature probe on generated small
	# targets, the demo's encoder against the same encoder at random init.
	$(PY) tools/data/generate_sample_data.py irstd data/irstd_sample --num 64 --num-test 32 \
		--size 128 128 --seed 2
	$(PY) tools/analysis_tools/transfer_benchmark.py --data-root data/irstd_sample \
		--img-dirs images --mask-dir masks --mask-suffix .png --split-dir '' \
		--train-split trainval --val-split '' --test-split test --arch tiny \
		--methods random infmae --checkpoint infmae=$(WORK)/epoch_100.pth \
		--evaluations probe --seeds 0 1 2 --probe-lrs 0.01 --work-dir $(WORK)/probe

test: env
	$(PY) -m pytest tests -q

test-fast: env
	$(PY) -m pytest tests -q -m "not slow"

lint: env
	bash tools/lint.sh

format: env
	bash tools/lint.sh --fix

docs: env
	$(PY) -m sphinx -b html -W --keep-going -E -q docs/en work_dirs/docs/html
	@echo "docs: work_dirs/docs/html/index.html"

docs-images: env
	$(PY) tools/visualization/show_reconstruction.py $(DEMO_CONFIG) $(WORK)/epoch_100.pth \
		--images data/ir_sample_heldout --num 6 --out docs/images/demo_reconstruction.jpg
	$(PY) tools/visualization/show_masks.py --images data/ir_sample_heldout --num 3 --random --seed 2 \
		--size 192 --out docs/images/iam_stride_vs_top.jpg

clean:
	rm -rf work_dirs data/ir_sample data/ir_sample_heldout data/irstd_sample

transfer: env
	$(PY) tools/analysis_tools/transfer_benchmark.py --data-root $(SIRST) \
		--work-dir work_dirs/transfer --budget-curve

bench: env
	$(PY) tools/analysis_tools/benchmark_speed.py --out work_dirs/bench/benchmark.json
