import type { JSX } from 'preact';

export function Logo(): JSX.Element {
  return (
    <svg class="logo" viewBox="0 0 32 32" width="32" height="32" aria-hidden="true">
      <rect width="32" height="32" rx="7" class="logo-bg" />
      <path d="M6 19h20l-3 6H9z" class="logo-hull" />
      <path d="M10 17V9h8l4 8z" class="logo-sail" />
    </svg>
  );
}
