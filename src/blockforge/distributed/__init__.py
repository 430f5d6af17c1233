"""Training on several processes with PyTorch's own engine (``torch.distributed``), one job per module.

| module        | what                                                                              |
|---------------|-----------------------------------------------------------------------------------|
| ``env``       | join the process group torchrun set up (gloo on CPU, nccl on CUDA); device mesh    |
| ``wrap``      | DDP, or FSDP2 ``fully_shard`` per block and at the root; gradient sync per micro-batch |
| ``checkpoint``| sharded DCP save/load of model and optimizer, at any world size                    |
| ``export``    | a DCP checkpoint to a model directory (``spec.yaml`` + ``model.safetensors``)      |
| ``launch``    | ``blockforge train --nproc N``: N local processes through torch's launcher          |

The spec's ``parallel:`` section (:mod:`blockforge.spec.parallel`) says which; the trainer's strategy
(:mod:`blockforge.train.parallel`) puts the pieces together; ``docs/distributed.md`` is the user's page.
"""
