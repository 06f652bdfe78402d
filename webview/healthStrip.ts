/**
 * The strip above the curves that lists a run's health alerts (src/protocol/health.ts): one line per alert with
 * the steps it names as links; a link opens the rollout browser at that step (validation samples for the
 * reward-vs-validation alert). A run without alerts says so in one quiet line.
 */
import type { HealthAlert, RolloutSource } from '../src/protocol';

/** Step links shown per alert: the first few and the last (the message names every range). */
const LINKED_STEPS = 6;

export class HealthStrip {
  readonly element = document.createElement('div');
  /** The alerts shown, as text: a new row of metrics that changes nothing redraws nothing. */
  private shown = '';

  constructor(private readonly open: (step: number, source: RolloutSource) => void) {
    this.element.className = 'health-strip';
    this.element.setAttribute('role', 'status');
    this.element.hidden = true;
  }

  show(alerts: readonly HealthAlert[]): void {
    const key = JSON.stringify(alerts);
    if (key === this.shown && !this.element.hidden) return;
    this.shown = key;
    this.element.hidden = false;
    this.element.dataset.alerts = String(alerts.length);
    if (alerts.length === 0) {
      const ok = document.createElement('p');
      ok.className = 'health-ok';
      ok.textContent = 'No health alerts.';
      this.element.replaceChildren(ok);
      return;
    }
    this.element.replaceChildren(...alerts.map((alert) => this.row(alert)));
  }

  hide(): void {
    this.element.hidden = true;
  }

  private row(alert: HealthAlert): HTMLElement {
    const row = document.createElement('div');
    row.className = 'health-alert';
    row.dataset.rule = alert.rule;
    const icon = document.createElement('span');
    icon.className = 'health-icon';
    icon.setAttribute('aria-hidden', 'true');
    icon.textContent = '⚠';
    const message = document.createElement('span');
    message.className = 'health-message';
    message.textContent = alert.message;
    const links = document.createElement('span');
    links.className = 'health-steps';
    const steps = alert.steps.length > LINKED_STEPS ? [...alert.steps.slice(0, LINKED_STEPS - 1), alert.steps[alert.steps.length - 1]] : alert.steps;
    steps.forEach((step, i) => {
      if (i === LINKED_STEPS - 1 && alert.steps.length > LINKED_STEPS) links.append('… ');
      const link = document.createElement('button');
      link.type = 'button';
      link.className = 'step-link';
      link.dataset.step = String(step);
      link.textContent = String(step);
      link.title = `Open the ${alert.source === 'eval' ? 'validation samples after' : 'rollouts of'} step ${step}`;
      link.addEventListener('click', () => this.open(step, alert.source));
      links.append(link);
    });
    row.append(icon, message, links);
    return row;
  }
}
