import { existsSync } from 'node:fs';
import { appEntry } from './processes';

/** The tests run the built apps as processes: fail at once, with the fix, when a build is missing. */
export default function assertAppsBuilt(): void {
  for (const app of ['api', 'worker', 'stub-upstream']) {
    if (!existsSync(appEntry(app))) {
      throw new Error(`dist/apps/${app} is missing: run "npm run build" first (npm test and npm run test:faults do)`);
    }
  }
}
