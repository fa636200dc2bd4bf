// Steps the keys specs share.
import { expect } from '@playwright/test';

// chooseDefaultProduct answers the create dialog's first question when
// other products exist (another spec may have made one).
export async function chooseDefaultProduct(dialog) {
  await expect(dialog).toBeVisible();
  if (await dialog.getByTestId('product-chooser').count()) {
    await dialog.getByRole('radio', { name: /^Default/ }).check();
    await dialog.getByTestId('choose-product').click();
    await expect(dialog.getByTestId('key-form')).toBeVisible();
  }
}
