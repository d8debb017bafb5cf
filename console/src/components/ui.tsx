import type { ButtonHTMLAttributes, ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api.js';
import { linkClick } from '../router.js';

export function Link(props: { href: string; class?: string; children: ComponentChildren; title?: string }): JSX.Element {
  return (
    <a href={props.href} class={props.class} title={props.title} onClick={(e) => linkClick(e, props.href)}>
      {props.children}
    </a>
  );
}

export function PageHeader(props: { title: ComponentChildren; subtitle?: ComponentChildren; children?: ComponentChildren }): JSX.Element {
  return (
    <header class="page-header">
      <div>
        <h1>{props.title}</h1>
        {props.subtitle !== undefined && <p class="subtitle">{props.subtitle}</p>}
      </div>
      {props.children !== undefined && <div class="page-actions">{props.children}</div>}
    </header>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; class?: string; children: ComponentChildren }): JSX.Element {
  return (
    <section class={`card ${props.class ?? ''}`}>
      {(props.title !== undefined || props.actions !== undefined) && (
        <div class="card-header">
          {props.title !== undefined && <h2>{props.title}</h2>}
          {props.actions !== undefined && <div class="card-actions">{props.actions}</div>}
        </div>
      )}
      {props.children}
    </section>
  );
}

export function ErrorBanner(props: { error: string | undefined; onRetry?: () => void }): JSX.Element | null {
  if (props.error === undefined) return null;
  return (
    <div class="banner banner-error" role="alert">
      <span class="banner-icon" aria-hidden="true">!</span>
      <span class="banner-text">{props.error}</span>
      {props.onRetry !== undefined && (
        <button type="button" class="btn btn-small" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }): JSX.Element {
  return (
    <div class="empty">
      <div class="empty-mark" aria-hidden="true" />
      <p class="empty-title">{props.title}</p>
      {props.children !== undefined && <p class="empty-text">{props.children}</p>}
    </div>
  );
}

export function Badge(props: { tone?: 'green' | 'amber' | 'red' | 'blue' | 'grey'; children: ComponentChildren }): JSX.Element {
  return <span class={`badge badge-${props.tone ?? 'grey'}`}>{props.children}</span>;
}

export function Spinner(): JSX.Element {
  return <span class="spinner" role="status" aria-label="loading" />;
}

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & { variant?: 'primary' | 'danger' | 'ghost' | 'default'; small?: boolean };

export function Button({ variant = 'default', small = false, class: cls, type, ...rest }: ButtonProps): JSX.Element {
  return <button type={(type as 'button' | 'submit' | undefined) ?? 'button'} class={`btn btn-${variant}${small ? ' btn-small' : ''} ${(cls as string | undefined) ?? ''}`} {...rest} />;
}

/**
 * A dialog for one action: its form fields as children, a confirm button that runs `onConfirm`,
 * whose failure is shown inside the dialog (the dialog stays open so the user can correct it).
 */
export function Dialog(props: {
  title: string;
  confirm: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
  children?: ComponentChildren;
}): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const ref = useRef<HTMLFormElement>(null);
  useEffect(() => {
    const first = ref.current?.querySelector<HTMLElement>('input, select, textarea, button.btn-primary, button.btn-danger');
    first?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') props.onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <div class="overlay" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div role="dialog" aria-modal="true" aria-label={props.title}>
      <form class="dialog" ref={ref} onSubmit={(e) => void submit(e)}>
        <h2>{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        <ErrorBanner error={error} />
        <div class="dialog-actions">
          <Button variant="ghost" onClick={props.onClose}>
            Cancel
          </Button>
          <Button type="submit" variant={props.danger === true ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Working…' : props.confirm}
          </Button>
        </div>
      </form>
      </div>
    </div>
  );
}

export function Field(props: { label: string; hint?: string; children: ComponentChildren }): JSX.Element {
  return (
    <div class="field">
      <label class="field-inner">
        <span class="field-label">{props.label}</span>
        {props.children}
      </label>
      {props.hint !== undefined && <span class="field-hint">{props.hint}</span>}
    </div>
  );
}

export function Stat(props: { label: string; value: ComponentChildren; detail?: ComponentChildren; tone?: string }): JSX.Element {
  return (
    <div class={`stat ${props.tone ?? ''}`}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
      {props.detail !== undefined && <div class="stat-detail">{props.detail}</div>}
    </div>
  );
}

export function Tabs<T extends string>(props: { value: T; options: readonly { value: T; label: string }[]; onChange: (v: T) => void }): JSX.Element {
  return (
    <div class="tabs" role="tablist">
      {props.options.map((o) => (
        <button type="button" role="tab" aria-selected={o.value === props.value} class={`tab${o.value === props.value ? ' active' : ''}`} onClick={() => props.onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}
