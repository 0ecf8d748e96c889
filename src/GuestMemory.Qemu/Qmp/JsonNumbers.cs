using System.Text.Json;

namespace GuestMemory.Qemu;

/// <summary>Reads integers from JSON that came from outside: a member of another kind is "absent", never an exception.</summary>
internal static class JsonNumbers
{
    /// <summary>True with the value when <paramref name="element"/> is a number that fits a long.</summary>
    public static bool TryInt64(JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value);
    }
}
