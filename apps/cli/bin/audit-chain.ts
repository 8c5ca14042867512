#!/usr/bin/env node
import { boundedArgv } from '../src/heap-bound.ts';

// seal, verify and worker re-execute themselves with a heap bound unless one is
// set already (src/heap-bound.ts). process.execve replaces this process and does
// not return; where it does not exist (Windows), the command runs unbounded.
const bounded = boundedArgv(process.argv, process.execArgv, process.env.NODE_OPTIONS);
if (bounded && typeof process.execve === 'function') process.execve(process.execPath, bounded, process.env);

const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv, { env: process.env, stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() });
