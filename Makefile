# The two commands of the README: `make demo` (pre-train on the embedded
# sample data and draw reconstructions) and `make test`. Both create the
# environment (.venv, reference stack) first when it is missing.
PY := .venv/bin/python
WORK ?= work_dirs/demo
DEMO_CONFIG := configs/pretrain/infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py

.PHONY: env demo test bench sample-data clean

env:
	bash tools/setup_env.sh

sample-data: env
	$(PY) tools/data/generate_sample_data.py pretrain data/ir_sample --num 96 --size 256 256 --seed 0

demo: sample-data
	PATH="$(CURDIR)/.venv/bin:$$PATH" mim train mmpretrain $(DEMO_CONFIG) --work-dir $(WORK)
	$(PY) tools/visualization/show_reconstruction.py $(DEMO_CONFIG) $(WORK)/epoch_100.pth \
		--images data/ir_sample --num 6 --out $(WORK)/reconstruction.png

test: env
	$(PY) -m pytest tests -q

clean:
	rm -rf work_dirs data/ir_sample

bench: env
	$(PY) tools/analysis_tools/benchmark_speed.py --out work_dirs/bench/benchmark.json
