#!/usr/bin/env node
import { listenForEarlyStop } from '../src/early-stop.ts';
import { boundedArgv, commandOf } from '../src/heap-bound.ts';

// seal, verify and worker re-execute themselves with a heap bound unless one is
// set already (src/heap-bound.ts). process.execve replaces this process and does
// not return; where it does not exist (Windows), the command runs unbounded.
const bounded = boundedArgv(process.argv, process.execArgv, process.env.NODE_OPTIONS);
if (bounded && typeof process.execve === 'function') process.execve(process.execPath, bounded, process.env);

// A worker stopped while still loading exits 0 instead of dying by the signal (src/early-stop.ts).
if (commandOf(process.argv) === 'worker') listenForEarlyStop();

const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv, { env: process.env, stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() });
