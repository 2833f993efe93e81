// Lint: typescript-eslint's recommended rules, plus the layer rule of ARCHITECTURE.md:
// the pure core (features, flags, matcher, routing, learner algorithms, experiment statistics
// and the outcome recorder) imports no I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  '@grpc/*',
  'ioredis',
  'node:http',
  'node:http2',
  'node:net',
  'node:dgram',
  'node:child_process',
  'pino',
  'prom-client',
];
const edgeModules = ['**/extproc/**', '**/store/**', '**/admin/**', '**/telemetry/**', '**/main.js'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  {
    files: [
      'src/features/**/*.ts',
      'src/flags/**/*.ts',
      'src/matcher/**/*.ts',
      'src/routing/**/*.ts',
      'src/learner/core/**/*.ts',
      'src/experiments/core/**/*.ts',
      'src/experiments/recorder.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ioModules, message: 'The pure core does no I/O (ARCHITECTURE.md, module rules).' },
            { group: edgeModules, message: 'The pure core must not depend on an edge module.' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
