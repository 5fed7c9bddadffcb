"""ReconstructionMetric: held-out masked-patch quality vs trivial fills."""
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from infmae_mm.registry import register_in_hosts
from .reconstruction import (FILLS, mask_sets_of, record_scores, summarize,
                             summary_table)


@register_in_hosts('METRICS', hosts=('mmpretrain', ))
class ReconstructionMetric(BaseMetric):
    """Masked-patch MSE and PSNR in gray levels, beside trivial fills.

    Reads the ``reconstruction`` field that a pre-training algorithm's
    ``predict`` writes (``ReconstructionPredictMixin``: the input in gray
    levels and, per mask set, the prediction and the pixel mask) and, for
    every mask set (``'iam'``: the configured masks; ``'random'``: seeded
    random masks with as many visible tokens), reports

    * ``<set>/model_mse`` and ``<set>/model_psnr``: the model on the masked
      pixels (MSE in gray levels squared averaged over images, PSNR in dB
      averaged over images, peak 255);
    * ``<set>/<fill>_mse`` and ``<set>/<fill>_psnr`` for each fill of
      :data:`~infmae_mm.evaluation.reconstruction.FILLS` (mean of the
      visible pixels, row-wise mean, OpenCV inpainting);
    * ``<set>/model_beats_fills``: 1 when the model's MSE is below every
      fill's, else 0;

    and logs them as one table, so the training log says whether the model
    beats the fills.

    Args:
        collect_device (str): Where results are gathered. Defaults 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to 'recon'.
    """
    default_prefix: Optional[str] = 'recon'

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            record = sample.get('reconstruction')
            if record is None:
                raise KeyError(
                    'ReconstructionMetric found no `reconstruction` field in '
                    'the predictions: the model must reconstruct pixels '
                    '(InfMAE, or an algorithm with ReconstructionPredictMixin'
                    '); UNIP-style distillation has no pixel reconstruction '
                    'to measure, so set val_evaluator/val_dataloader/val_cfg '
                    'to None for it.')
            scores = record_scores(record)
            self.results.append(scores)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = summarize(results)
        MMLogger.get_current_instance().info(
            '\n' + summary_table(metrics, mask_sets_of(results[0]),
                                 ['model', *FILLS], len(results)))
        return metrics
