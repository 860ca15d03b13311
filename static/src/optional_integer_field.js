import { registry } from "@web/core/registry";
import { IntegerField, integerField } from "@web/views/fields/integer/integer_field";

/**
 * An optional number of days, where 0 (what an emptied field saves) means
 * "the next setting up": shown empty, so that the field's placeholder says
 * what applies, rather than a 0 read as "stale at once".
 */
export class FollowupOptionalIntegerField extends IntegerField {
    get formattedValue() {
        return this.value ? super.formattedValue : "";
    }
}

registry.category("fields").add("followup_optional_integer", {
    ...integerField,
    component: FollowupOptionalIntegerField,
});
