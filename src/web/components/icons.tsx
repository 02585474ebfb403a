// A handful of stroke icons drawn for this app (24×24 grid, currentColor), so the UI needs
// no icon package. Decorative by default: the text beside them carries the meaning.
import type { SVGProps } from 'react';

type IconProps = SVGProps<SVGSVGElement> & { size?: number };

function icon(paths: React.ReactNode, displayName: string) {
  const Icon = ({ size = 18, ...props }: IconProps) => (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={2}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      {...props}
    >
      {paths}
    </svg>
  );
  Icon.displayName = displayName;
  return Icon;
}

export const IconGauge = icon(
  <>
    <path d="M4.2 17a9 9 0 1 1 15.6 0" />
    <path d="M12 13l3.5-3.5" />
    <circle cx="12" cy="13" r="1.2" />
  </>,
  'IconGauge',
);
export const IconTasks = icon(
  <>
    <path d="M4 6l1.5 1.5L8 5" />
    <path d="M4 12l1.5 1.5L8 11" />
    <path d="M4 18l1.5 1.5L8 17" />
    <path d="M11 6h9M11 12h9M11 18h9" />
  </>,
  'IconTasks',
);
export const IconHistory = icon(
  <>
    <path d="M3.5 12a8.5 8.5 0 1 0 2.5-6" />
    <path d="M3 4v4h4" />
    <path d="M12 8v4l3 2" />
  </>,
  'IconHistory',
);
export const IconServer = icon(
  <>
    <rect x="3.5" y="4" width="17" height="6.5" rx="1.5" />
    <rect x="3.5" y="13.5" width="17" height="6.5" rx="1.5" />
    <path d="M7 7.25h.01M7 16.75h.01" />
  </>,
  'IconServer',
);
export const IconTarget = icon(
  <>
    <circle cx="12" cy="12" r="9" />
    <circle cx="12" cy="12" r="5" />
    <circle cx="12" cy="12" r="1" />
  </>,
  'IconTarget',
);
export const IconPlus = icon(<path d="M12 5v14M5 12h14" />, 'IconPlus');
export const IconPause = icon(<path d="M8 5v14M16 5v14" />, 'IconPause');
export const IconPlay = icon(<path d="M7 4.5v15l12-7.5z" />, 'IconPlay');
export const IconBolt = icon(<path d="M13 3L5 13.5h6L10 21l8-10.5h-6z" />, 'IconBolt');
export const IconEdit = icon(
  <>
    <path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16z" />
    <path d="M13.5 6.5l4 4" />
  </>,
  'IconEdit',
);
export const IconTrash = icon(
  <>
    <path d="M4 7h16M10 11v6M14 11v6" />
    <path d="M5.5 7l1 12a2 2 0 0 0 2 2h7a2 2 0 0 0 2-2l1-12" />
    <path d="M9 7V4.5h6V7" />
  </>,
  'IconTrash',
);
export const IconSearch = icon(
  <>
    <circle cx="10.5" cy="10.5" r="6.5" />
    <path d="M20 20l-4.8-4.8" />
  </>,
  'IconSearch',
);
export const IconAlert = icon(
  <>
    <path d="M12 9v4M12 17h.01" />
    <path d="M10.3 3.9L2.4 17.5A2 2 0 0 0 4.1 20.5h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z" />
  </>,
  'IconAlert',
);
export const IconPlugOff = icon(
  <>
    <path d="M3 3l18 18" />
    <path d="M16.5 12.5L18 11a4.2 4.2 0 0 0-6-6l-1.5 1.5" />
    <path d="M7.5 11.5L6 13a4.2 4.2 0 0 0 6 6l1.5-1.5" />
  </>,
  'IconPlugOff',
);
export const IconInbox = icon(
  <>
    <path d="M4 13l2.5-8h11L20 13v6H4z" />
    <path d="M4 13h4.5l1 2.5h5l1-2.5H20" />
  </>,
  'IconInbox',
);
export const IconArrowLeft = icon(<path d="M19 12H5M11 6l-6 6 6 6" />, 'IconArrowLeft');
export const IconChevronLeft = icon(<path d="M15 6l-6 6 6 6" />, 'IconChevronLeft');
export const IconChevronRight = icon(<path d="M9 6l6 6-6 6" />, 'IconChevronRight');
export const IconClock = icon(
  <>
    <circle cx="12" cy="12" r="8.5" />
    <path d="M12 7.5V12l3 2" />
  </>,
  'IconClock',
);
export const IconRefresh = icon(
  <>
    <path d="M20 11a8 8 0 0 0-14.8-4M4 5v4h4" />
    <path d="M4 13a8 8 0 0 0 14.8 4M20 19v-4h-4" />
  </>,
  'IconRefresh',
);

/** The Sundial mark: a gnomon casting its shadow across a dial. */
export function SundialLogo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <circle cx="16" cy="16" r="14" fill="var(--mantine-color-yellow-5)" />
      <circle cx="16" cy="16" r="9.5" fill="none" stroke="var(--mantine-color-orange-8)" strokeWidth="1.5" strokeDasharray="1.5 3.4" />
      <path d="M16 16L16 5.5" stroke="var(--mantine-color-orange-9)" strokeWidth="2.4" strokeLinecap="round" />
      <path d="M16 16l6.5 5" stroke="var(--mantine-color-orange-9)" strokeWidth="2.4" strokeLinecap="round" opacity="0.55" />
      <circle cx="16" cy="16" r="2.2" fill="var(--mantine-color-orange-9)" />
    </svg>
  );
}
