#!/bin/bash
# sbatch recipes/accelerate/slurm-2node.sh recipes/qwen2.5-math-7b-r1zero.yaml [section.key=value ...]
#
# Two nodes x 8 GPUs = 16 training processes under accelerate, each with its own colocated vLLM engine.
# One srun task per node starts `accelerate launch`, which starts that node's 8 processes; node 0 is the
# rendezvous host. Training is sharded by FSDP2 (swap ACCEL_CONFIG for zero3.yaml to use DeepSpeed).
# rollout.prompts_per_step must be divisible by 16. The output directory must be on a filesystem every
# node sees: checkpoints are written by the main process (DeepSpeed: every process writes its partition).
#
#SBATCH --job-name=r1train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out

set -euo pipefail
RECIPE=${1:?usage: sbatch recipes/accelerate/slurm-2node.sh RECIPE [overrides]}
shift
ACCEL_CONFIG=${ACCEL_CONFIG:-recipes/accelerate/fsdp2.yaml}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MAIN_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MAIN_PORT=${MAIN_PORT:-29500}
WORLD=$((SLURM_NNODES * GPUS_PER_NODE))

# NCCL over the cluster fabric; set NCCL_SOCKET_IFNAME / NCCL_IB_HCA to your interfaces if needed.
export NCCL_ASYNC_ERROR_HANDLING=1
export OMP_NUM_THREADS=8

# $SLURM_NODEID is expanded by each srun task on its own node (single quotes), giving the machine rank.
srun --kill-on-bad-exit=1 bash -c '
  accelerate launch \
    --config_file "'"$ACCEL_CONFIG"'" \
    --num_machines "'"$SLURM_NNODES"'" \
    --num_processes "'"$WORLD"'" \
    --machine_rank "$SLURM_NODEID" \
    --main_process_ip "'"$MAIN_HOST"'" \
    --main_process_port "'"$MAIN_PORT"'" \
    --rdzv_backend c10d \
    -m r1train train "'"$RECIPE"'" '"$*"'
'
