"""Writes the small corpora the text tests use (run once; the .tsv files are committed).

Each text combines hand-written phrases of one topic, so the classes have distinct vocabulary
and the tests can check that a model learns well above chance in a few epochs.
"""
import random

ENGLISH = {
    "cooking": ["slice the onions thinly", "simmer the soup for an hour", "add a pinch of salt",
                "bake the bread until golden", "whisk the eggs with sugar", "the sauce needs garlic",
                "roast the vegetables in the oven", "stir the pasta so it does not stick",
                "season the stew with pepper", "knead the dough on a floured table",
                "my grandmother makes the best pie", "fry the fish in butter"],
    "sports": ["the striker scored in the last minute", "our team won the league",
               "the goalkeeper saved a penalty", "she ran the marathon in record time",
               "the coach changed the lineup", "fans cheered in the stadium",
               "the referee showed a red card", "he trains at the track every morning",
               "the tennis final went to five sets", "the cyclists climbed the mountain stage",
               "a late goal decided the match", "the swimmer broke the world record"],
    "computers": ["the compiler reports a syntax error", "restart the server after the update",
                  "the program leaks memory", "install the driver for the printer",
                  "the database query is too slow", "commit the patch to the repository",
                  "the laptop keyboard stopped working", "run the tests before you merge",
                  "the kernel panics at boot", "encrypt the disk with a passphrase",
                  "the script parses the log files", "upgrade the firmware of the router"],
}
JAPANESE = {
    "料理": ["玉ねぎを薄く切ります", "鍋でスープを一時間煮込みます", "塩をひとつまみ加えます",
           "パンをきつね色になるまで焼きます", "卵と砂糖を泡立てます", "ソースにはにんにくが必要です",
           "野菜をオーブンで焼きます", "味噌汁に豆腐を入れます", "魚をバターで焼きます",
           "ご飯を炊いておにぎりを作ります", "祖母の作るカレーは美味しい", "醤油とみりんで味をつけます"],
    "スポーツ": ["試合の最後にゴールを決めた", "私たちのチームがリーグで優勝した",
             "ゴールキーパーがペナルティを止めた", "彼女はマラソンを新記録で走った",
             "監督が先発メンバーを変えた", "スタジアムでファンが応援した",
             "審判がレッドカードを出した", "彼は毎朝グラウンドで練習する",
             "野球の決勝は延長戦になった", "選手たちは山道を自転車で登った",
             "水泳選手が世界記録を破った", "相撲の横綱が土俵で勝った"],
    "天気": ["明日は全国的に雨が降るでしょう", "台風が近づいて風が強くなります",
           "今朝は霜が降りて寒かった", "午後から晴れて気温が上がります",
           "梅雨前線が停滞しています", "北の地方では大雪に注意してください",
           "雷を伴った激しい雨が降るおそれ", "週末は湿度が高く蒸し暑い",
           "空気が乾燥して火事に注意", "夕方には虹が見えました", "春の暖かい日差しが続きます",
           "天気予報によると曇りのち雨"],
}


def write(path, topics, joiner, count, seed):
    rng = random.Random(seed)
    rows = []
    for label, phrases in topics.items():
        for _ in range(count):
            rows.append((label, joiner.join(rng.sample(phrases, rng.randint(1, 3)))))
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8") as handle:
        for label, text in rows:
            handle.write(f"{label}\t{text}\n")


if __name__ == "__main__":
    write("english_topics.tsv", ENGLISH, ". ", 60, 0)
    write("japanese_topics.tsv", JAPANESE, "。", 60, 1)
