// Lint rules that catch real bugs; formatting is left to the editor.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.tools/**', 'test-results/**', 'src/model/simd/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', require: 'readonly', __dirname: 'readonly', module: 'writable' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // A `let` assigned once after closures that read it were created cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { property: 'innerHTML', message: 'Model output is untrusted: use textContent.' }],
    },
  },
  {
    files: ['src/worker/**', 'src/grpo/**', 'src/model/**', 'src/protocol/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only src/host may import vscode.' }] }] },
  },
  {
    // The UI component library is deprecated upstream: webview/toolkit.ts is the one module to change when it goes.
    files: ['webview/**'],
    ignores: ['webview/toolkit.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@vscode/webview-ui-toolkit', '@vscode/webview-ui-toolkit/*'], message: 'Only webview/toolkit.ts may use the UI component library.' }] }],
      'no-restricted-syntax': ['error', { selector: "Literal[value=/^vscode-/]", message: 'Only webview/toolkit.ts may create the UI component library\'s elements.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
