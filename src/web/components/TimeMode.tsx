// Whether times are shown in the viewer's zone or in UTC. Chosen once in the navbar,
// remembered in localStorage, read by every <Instant>.
import { createContext, useContext, useState, type ReactNode } from 'react';
import { SegmentedControl } from '@mantine/core';
import type { DisplayZone } from '../lib/time';

const STORAGE_KEY = 'sundial.timeMode';

const TimeModeContext = createContext<{ mode: DisplayZone; setMode: (mode: DisplayZone) => void }>({
  mode: 'local',
  setMode: () => {},
});

function initialMode(): DisplayZone {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'utc' ? 'utc' : 'local';
  } catch {
    return 'local';
  }
}

export function TimeModeProvider({ children }: { children: ReactNode }) {
  const [mode, setModeState] = useState<DisplayZone>(initialMode);
  const setMode = (next: DisplayZone) => {
    setModeState(next);
    try {
      localStorage.setItem(STORAGE_KEY, next);
    } catch {
      // private mode: the choice lasts for this page only
    }
  };
  return <TimeModeContext.Provider value={{ mode, setMode }}>{children}</TimeModeContext.Provider>;
}

export function useTimeMode() {
  return useContext(TimeModeContext);
}

export function TimeModeToggle({ fullWidth }: { fullWidth?: boolean }) {
  const { mode, setMode } = useTimeMode();
  return (
    <SegmentedControl
      size="xs"
      fullWidth={fullWidth}
      aria-label="Show times in"
      value={mode}
      onChange={(value) => setMode(value as DisplayZone)}
      data={[
        { value: 'local', label: 'Local time' },
        { value: 'utc', label: 'UTC' },
      ]}
    />
  );
}
