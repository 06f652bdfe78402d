/** Entry loaded by the extension host as extensionTestsPath: runs the mocha suites and reports their result. */
import Mocha from 'mocha';
import { registerExtensionTests } from './extension.test';
import { registerRayLaunchTests } from './rayLaunch.test';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 120000, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'extension.test', mocha);
  registerExtensionTests();
  registerRayLaunchTests();
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension test(s) failed`)) : resolve()));
  });
}
