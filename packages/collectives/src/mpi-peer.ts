// Open MPI as the all-reduce to measure against: when `mpicc` and `mpirun` are on the PATH
// (Debian: openmpi-bin, libopenmpi-dev), a small timing program of this project's own is
// compiled once into a temporary directory and run on N local ranks over the same sizes as
// `bench allreduce`, timed the same way (per iteration the slowest rank, then p50/p99).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How the MPI ranks reach each other: TCP over loopback, or Open MPI's shared-memory transport. */
export type MpiTransport = 'tcp' | 'shm';

export interface MpiRow {
  bytes: number;
  iters: number;
  p50_us: number;
  p99_us: number;
}

/**
 * The timing program. Per size: a warm-up, then `iters` timed MPI_Allreduce calls (float32 sum),
 * each bracketed by a barrier; the slowest rank's time of each iteration is kept (an
 * MPI_Reduce with MPI_MAX), rank 0 sorts them and prints "bytes iters p50_us p99_us" per line.
 */
const PROGRAM = String.raw`#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y ? 1 : 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (int a = 1; a + 1 < argc; a += 2) {
    long bytes = atol(argv[a]);
    int iters = atoi(argv[a + 1]);
    long count = bytes / 4;
    float *send = malloc(bytes), *recv = malloc(bytes);
    double *slowest = malloc(sizeof(double) * iters);
    for (long i = 0; i < count; i++) send[i] = (float)(rank + 1);
    for (int w = 0; w < 10; w++) MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int it = 0; it < iters; it++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double mine = MPI_Wtime() - t0, worst = 0;
      MPI_Reduce(&mine, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
      slowest[it] = worst;
    }
    float want = (float)world * (world + 1) / 2;
    int bad = count > 0 && (recv[0] != want || recv[count - 1] != want);
    if (rank == 0) {
      qsort(slowest, iters, sizeof(double), by_value);
      int p99 = (int)((iters * 99 + 99) / 100) - 1;
      printf("%ld %d %.3f %.3f %s\n", bytes, iters, slowest[(iters + 1) / 2 - 1] * 1e6, slowest[p99 < 0 ? 0 : p99] * 1e6, bad ? "wrong" : "ok");
      fflush(stdout);
    }
    free(send); free(recv); free(slowest);
  }
  MPI_Finalize();
  return 0;
}
`;

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** A compiled copy of the timing program, or why there is none (one line). */
export function buildMpiPeer(): { binary: string } | { missing: string } {
  const absent = ['mpicc', 'mpirun'].filter((c) => !onPath(c));
  if (absent.length > 0) {
    return { missing: `${absent.join(' and ')} not on the PATH: install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev) to compare with it` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-mpi-'));
  writeFileSync(join(dir, 'allreduce.c'), PROGRAM);
  const binary = join(dir, 'allreduce');
  const built = spawnSync('mpicc', ['-O2', '-o', binary, join(dir, 'allreduce.c')], { encoding: 'utf8' });
  if (built.status !== 0) return { missing: `mpicc could not build the MPI timing program: ${(built.stderr || built.stdout).trim().split('\n')[0] ?? ''}` };
  return { binary };
}

/** The mpirun arguments for `ranks` local processes on `transport`. */
export function mpirunArgs(ranks: number, transport: MpiTransport): string[] {
  const root = typeof process.getuid === 'function' && process.getuid() === 0 ? ['--allow-run-as-root'] : [];
  const btl = transport === 'tcp' ? ['--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo'] : ['--mca', 'btl', 'vader,self'];
  return [...root, '--oversubscribe', '--bind-to', 'none', '--mca', 'btl_base_warn_component_unused', '0', '--mca', 'pml', 'ob1', ...btl, '-np', String(ranks)];
}

/** Runs the compiled program on `ranks` ranks over `sizes` (bytes, with their iteration counts); throws with MPI's own words when it fails. */
export function runMpiPeer(binary: string, ranks: number, transport: MpiTransport, sizes: readonly { bytes: number; iters: number }[], timeoutMs = 300_000): MpiRow[] {
  const args = [...mpirunArgs(ranks, transport), binary, ...sizes.flatMap((s) => [String(s.bytes), String(s.iters)])];
  let out: string;
  try {
    out = execFileSync('mpirun', args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`mpirun (${transport}) failed: ${(e.stderr ?? '').trim().split('\n').slice(0, 3).join(' ') || e.message}`);
  }
  const rows: MpiRow[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\d+) (\d+) ([\d.]+) ([\d.]+) (ok|wrong)$/.exec(line.trim());
    if (m === null) continue;
    if (m[5] !== 'ok') throw new Error(`the MPI all-reduce of ${m[1]} bytes did not give the exact sum`);
    rows.push({ bytes: Number(m[1]), iters: Number(m[2]), p50_us: Number(m[3]), p99_us: Number(m[4]) });
  }
  if (rows.length !== sizes.length) throw new Error(`mpirun (${transport}) printed ${rows.length} of ${sizes.length} sizes:\n${out}`);
  return rows;
}
