import { Migration } from '@mikro-orm/migrations';

/** Tokens may expire (`worksched token create --expires 30d`); a null expiry never does. */
export class Migration20261202041000_token_expiry extends Migration {

  override up(): void {
    this.addSql(`alter table "api_token" add column "expires_at" timestamptz null;`);
  }

  override down(): void {
    this.addSql(`alter table "api_token" drop column "expires_at";`);
  }

}
