import { Link } from 'react-router-dom';
import { Button } from '@mantine/core';
import { PageHeader } from '../components/PageHeader';
import { Empty } from '../components/States';

export function NotFoundRoute() {
  return (
    <>
      <PageHeader title="Page not found" />
      <Empty
        title="There is nothing at this address"
        description="The link may be mistyped, or the page may have moved."
        action={
          <Button component={Link} to="/">
            Go to the overview
          </Button>
        }
      />
    </>
  );
}
