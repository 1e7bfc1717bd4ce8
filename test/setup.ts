// Property tests run from a fixed fast-check seed so CI is reproducible; FC_SEED=<n> replays a seed and
// FC_SEED=random explores new ones (the seed is printed on failure either way).
import fc from 'fast-check';

const env = process.env.FC_SEED;
if (env !== 'random') fc.configureGlobal({ seed: env ? Number(env) : 20261123 });
