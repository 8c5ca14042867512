#!/usr/bin/env node
import { main } from '../src/main.ts';

process.exitCode = await main(process.argv, { env: process.env, stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() });
